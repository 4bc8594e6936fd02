"""``collab dev``'s development identity: no sign-in on loopback, and nothing more.

``LoopbackAuthenticator`` is an ``Authenticator`` that, for a request carrying **no**
credentials, answers a trusted development identity (``DEV_IDENTITY``, the service role)
instead of 401 — so the seed's dashboard, which sends no ``Authorization``, works against
``collab dev``. A request that sends credentials is checked exactly as by ``collab serve``
(a bad token is still a 401). ``collab dev`` binds 127.0.0.1 only and refuses any other
address; on top of that, each credential-less request must show it comes from a page of
this machine, against the two ways a remote site reaches a loopback server through the
operator's browser:

- **DNS rebinding**: the ``Host`` header must name a loopback host (``localhost``,
  ``127.0.0.1``, ``[::1]``, any port) — a rebound name (``evil.example``) is refused;
- **cross-site requests (CSRF)**: an ``Origin`` header, when sent, must be a loopback
  origin, and ``Sec-Fetch-Site`` must not be ``cross-site`` — a page of another site
  cannot retry, delete or purge jobs, even with a "simple" request that needs no CORS
  preflight.

A refused request is a 401 ``dev_identity_refused``. The identity never leaves the
server: no token is minted or sent to the browser.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from collab_sdk.auth.tokens import AuthConfig, AuthError, Authenticator, Identity

__all__ = ["LoopbackAuthenticator", "DEV_IDENTITY", "LOOPBACK_HOSTS", "is_loopback_host",
           "is_loopback_origin"]

#: The addresses ``collab dev`` may bind.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: Who a credential-less loopback request is: the trusted service role, as ``collab dev``.
DEV_IDENTITY = Identity(role="service_role", subject="collab-dev", claims={"role": "service_role"},
                        via="api_key")

_HOST = re.compile(r"^(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$", re.IGNORECASE)
_ORIGIN = re.compile(r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$", re.IGNORECASE)


def is_loopback_host(host: str | None) -> bool:
    """Whether a ``Host`` header names this machine's loopback interface."""
    return bool(host) and _HOST.match(host or "") is not None


def is_loopback_origin(origin: str | None) -> bool:
    """Whether an ``Origin`` is a page served from loopback."""
    return bool(origin) and _ORIGIN.match(origin or "") is not None


class LoopbackAuthenticator(Authenticator):
    """An ``Authenticator`` that lets credential-less loopback requests in as
    ``DEV_IDENTITY`` (see the module doc)."""

    def __init__(self, config: AuthConfig) -> None:
        super().__init__(config)

    def authenticate(self, headers: Mapping[str, str]) -> Identity:
        """The caller: checked credentials if any were sent, else the dev identity."""
        if self._sends_credentials(headers):
            return super().authenticate(headers)
        return self._dev_identity(headers)

    async def authenticate_async(self, headers: Mapping[str, str]) -> Identity:
        """``authenticate`` for event loops."""
        if self._sends_credentials(headers):
            return await super().authenticate_async(headers)
        return self._dev_identity(headers)

    @staticmethod
    def _sends_credentials(headers: Mapping[str, str]) -> bool:
        return bool(headers.get("authorization") or headers.get("x-api-key"))

    @staticmethod
    def _dev_identity(headers: Mapping[str, str]) -> Identity:
        if not is_loopback_host(headers.get("host")):
            raise AuthError("dev_identity_refused", "the development identity answers loopback "
                            "hosts only (Host must be localhost or 127.0.0.1)")
        origin = headers.get("origin")
        if origin is not None and origin != "null" and not is_loopback_origin(origin):
            raise AuthError("dev_identity_refused", "the development identity refuses pages of "
                            "other sites (Origin is not loopback)")
        if origin == "null" or headers.get("sec-fetch-site", "").lower() == "cross-site":
            raise AuthError("dev_identity_refused", "the development identity refuses "
                            "cross-site requests")
        return DEV_IDENTITY
