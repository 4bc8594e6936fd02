"""Who is calling: bearer JWTs (Supabase's JWKS signing keys or the legacy HS256
secret, ``tokens``; key sets fetched and cached by ``jwks``) and API keys, resolved into
an ``Identity``. Used by the HTTP layer and ``collab token``.

May import: ``collab_sdk.errors``. Nothing else of collab.
"""

from collab_sdk.auth.tokens import AuthConfig, AuthError, Authenticator, Identity, mint_token

__all__ = ["AuthConfig", "AuthError", "Authenticator", "Identity", "mint_token"]
