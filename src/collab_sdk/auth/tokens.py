"""Who is calling: verify ``Authorization: Bearer <JWT>`` or ``x-api-key`` and turn it into an
``Identity`` whose ``role`` and ``claims`` the database sees (``request.jwt.claims``).

Framework-independent: ``Authenticator(AuthConfig.from_env()).authenticate(headers)`` takes
any mapping of request headers (names compared case-insensitively) and returns an
``Identity`` or raises ``AuthError`` (HTTP 401; 503 for ``jwks_unavailable``).

Environment (``AuthConfig.from_env``):

- ``COLLAB_JWT_MODE`` — ``local``: HS256 tokens signed with ``SUPABASE_JWT_SECRET`` (the
  legacy Supabase JWT secret, at least 32 characters); ``jwks``: ES256 / RS256 tokens
  verified with the public keys of a JWKS. Unset: ``jwks`` when ``COLLAB_JWKS``,
  ``COLLAB_JWKS_URL`` or ``SUPABASE_URL`` is set, else ``local`` when the secret is set,
  else no JWT is accepted (only the API key).
- ``SUPABASE_JWT_SECRET`` — the HS256 secret for ``local`` mode.
- ``SUPABASE_URL`` — in ``jwks`` mode the keys come from
  ``<SUPABASE_URL>/auth/v1/.well-known/jwks.json`` and the issuer defaults to
  ``<SUPABASE_URL>/auth/v1``.
- ``COLLAB_JWKS_URL`` — another JWKS URL (``https``, or ``http`` to localhost only).
- ``COLLAB_JWKS`` — a JWKS given directly, as JSON text or a file path: used offline,
  never refetched; wins over the URLs.
- ``COLLAB_JWKS_TTL`` — seconds a fetched JWKS is trusted (default 600, Supabase's own
  edge cache time); a token with an unknown ``kid`` refetches it at most once per 30 s.
- ``COLLAB_JWT_AUDIENCE`` — the required ``aud`` (default ``authenticated``).
- ``COLLAB_JWT_ISSUER`` — the required ``iss``; empty turns the check off.
- ``COLLAB_JWT_REQUIRE_IAT`` — ``1/true/yes/on``: refuse a token without ``iat``. Off by
  default: PostgREST (and so Supabase) accepts such tokens.
- ``COLLAB_JWT_LEEWAY`` — clock skew allowed on ``exp`` / ``nbf`` / ``iat``, 0–60 s (default 30).
- ``COLLAB_JWT_MAX_LIFETIME`` — the longest ``exp - iat`` accepted for an ``authenticated``
  token, in seconds (default 604800, a week: Supabase's longest access-token expiry).
  ``service_role`` tokens (Supabase's legacy service key lives ten years) are exempt.
- ``COLLAB_API_KEY`` — the key accepted in ``x-api-key``; such a caller is the service role.
- ``COLLAB_REQUIRE_JWT`` — ``1/true/yes/on``: refuse ``x-api-key`` (``0/false/no/off``
  or unset: accept it). Any other value is a configuration error.

Supabase's legacy ``service_role`` key is itself a JWT that trusted servers send as a
Bearer token: ``{"iss": "supabase", "ref": <project ref>, "role": "service_role", "iat",
"exp"}``, with no ``sub`` and no ``aud``. A token of exactly that shape (``role``
``service_role``, ``iss`` ``supabase``, a ``ref`` — equal to the project's when
``SUPABASE_URL`` names a ``<ref>.supabase.co`` project —, no ``sub``, no ``aud``) is the
service role (``Identity.subject`` None) when its signature verifies; every other token
follows the rules below.

A token is accepted only if: its header names an allowed algorithm (``local``: HS256;
``jwks``: ES256 / RS256, and the ``kid``'s key has that algorithm and key type), carries
no ``jku`` / ``x5u`` / ``x5c`` / ``jwk`` / ``crit``; the signature verifies; ``exp``,
``sub`` and ``role`` are present (``iat`` too with ``COLLAB_JWT_REQUIRE_IAT``); ``exp``, ``iat`` and ``nbf`` are JSON integers
(or integral numbers) between 0 and 253402300799 (the last second of year 9999) — a
string, ``1e300`` or NaN is refused, not coerced; an ``authenticated`` token lives at most
``COLLAB_JWT_MAX_LIFETIME`` (counted from ``iat``, or from now without one); it has not expired and is not from the future;
``aud`` (and ``iss`` when configured) match; ``role`` is ``authenticated`` or
``service_role``. ``AuthError.code`` is one of ``missing_credentials``, ``invalid_token``,
``algorithm_not_allowed``, ``invalid_signature``, ``token_expired``,
``token_not_yet_valid``, ``invalid_audience``, ``invalid_issuer``, ``missing_claim``,
``role_not_allowed``, ``invalid_claim``, ``token_lifetime_too_long``, ``unknown_key``, ``jwks_unavailable``, ``jwt_not_configured``,
``invalid_api_key``, ``jwt_required``.
"""

from __future__ import annotations

import hmac
import os
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import jwt

from collab_sdk.auth.jwks import (JwksCache, JwksError, VerifyingKey, check_jwks_url, load_jwks_text,
                              parse_jwks)
from collab_sdk.errors import ConfigurationError, Unauthorized, ValidationError

__all__ = ["AuthError", "Identity", "AuthConfig", "Authenticator", "VerifiedTokens", "mint_token"]

JWT_ALGORITHMS: dict[str, tuple[str, ...]] = {"local": ("HS256",), "jwks": ("ES256", "RS256")}
FORBIDDEN_HEADERS = ("jku", "x5u", "x5c", "jwk", "crit")
MAX_TOKEN_CHARS = 8192
MIN_SECRET_CHARS = 32
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


class AuthError(Unauthorized):
    """The request's credentials were missing or refused; ``reason`` says why (see the
    module doc). ``unavailable``: they could not be checked (the JWKS could not be
    fetched), which is the server's trouble, not the caller's."""

    reason: str

    def __init__(self, reason: str, message: str, *, unavailable: bool = False) -> None:
        super().__init__(message, reason=reason)
        self.unavailable = unavailable


@dataclass(frozen=True)
class Identity:
    """An authenticated caller: the database ``role`` to act as, the user id
    (``subject``, None for an API key), the ``claims`` for ``request.jwt.claims``, how it
    was proven (``via``) and, for a JWT, the verified bearer ``token`` itself (forwarded
    to PostgREST when the server acts for the caller over ``SupabaseTransport``; never
    in ``repr``, so never in a log line, and not compared)."""

    role: str
    subject: str | None
    claims: dict[str, Any] = field(default_factory=dict)
    via: Literal["jwt", "api_key"] = "jwt"
    token: str | None = field(default=None, repr=False, compare=False)

    @property
    def executor_hints(self) -> dict[str, str]:
        """``app_metadata.collab_executors`` (executor id -> role): hints for a UI only;
        the database's membership table decides what the caller may do."""
        hints = (self.claims.get("app_metadata") or {}).get("collab_executors") or {}
        return {str(k): str(v) for k, v in hints.items()} if isinstance(hints, dict) else {}


@dataclass(frozen=True)
class AuthConfig:
    """What ``Authenticator`` accepts; ``from_env`` reads it from the environment."""

    mode: Literal["local", "jwks"] | None = None
    jwt_secret: str | None = field(default=None, repr=False)
    jwks_url: str | None = None
    jwks: Mapping[str, Any] | None = field(default=None, repr=False)
    audience: str = "authenticated"
    issuer: str | None = None
    api_key: str | None = field(default=None, repr=False)
    require_jwt: bool = False
    leeway: float = 30.0
    jwks_ttl: float = 600.0
    jwks_cooldown: float = 30.0
    jwks_timeout: float = 5.0
    allowed_roles: tuple[str, ...] = ("authenticated", "service_role")
    max_lifetime: float = 604800.0
    require_iat: bool = False
    #: The Supabase project's ref (``<ref>.supabase.co``): a legacy ``service_role`` key
    #: must name it. None: any ref.
    project_ref: str | None = None

    def __post_init__(self) -> None:
        if self.mode == "local" and len(self.jwt_secret or "") < MIN_SECRET_CHARS:
            raise ConfigurationError(f"COLLAB_JWT_MODE=local needs SUPABASE_JWT_SECRET of at least "
                             f"{MIN_SECRET_CHARS} characters")
        if self.mode == "jwks":
            if (self.jwks is None) == (self.jwks_url is None):
                raise ConfigurationError("COLLAB_JWT_MODE=jwks needs one of COLLAB_JWKS, COLLAB_JWKS_URL "
                                 "or SUPABASE_URL")
            if self.jwks_url is not None:
                check_jwks_url(self.jwks_url)
            elif not _usable_keys(self.jwks):
                raise ConfigurationError("COLLAB_JWKS holds no usable ES256/RS256 public signing key")
        if not self.max_lifetime > 0:
            raise ConfigurationError("COLLAB_JWT_MAX_LIFETIME must be a positive number of seconds")
        if not 0 <= self.leeway <= 60:
            raise ConfigurationError("COLLAB_JWT_LEEWAY must be between 0 and 60 seconds")
        if self.require_jwt and self.mode is None:
            raise ConfigurationError("COLLAB_REQUIRE_JWT is on but no JWT verification is configured "
                             "(set SUPABASE_JWT_SECRET or a JWKS)")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AuthConfig:
        """The configuration ``env`` (default ``os.environ``) describes; see the module doc."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            return (env.get(name) or "").strip() or None

        supabase_url = (get("SUPABASE_URL") or "").rstrip("/") or None
        jwks_text, jwks_url = get("COLLAB_JWKS"), get("COLLAB_JWKS_URL")
        mode = get("COLLAB_JWT_MODE")
        if mode is None:
            mode = ("jwks" if jwks_text or jwks_url or supabase_url
                    else "local" if get("SUPABASE_JWT_SECRET") else None)
        if mode not in (None, "local", "jwks"):
            raise ConfigurationError(f"COLLAB_JWT_MODE must be 'local' or 'jwks', not {mode!r}")
        jwks: Mapping[str, Any] | None = None
        if mode == "jwks":
            if jwks_text:
                jwks, jwks_url = load_jwks_text(jwks_text), None
            elif jwks_url is None and supabase_url:
                jwks_url = f"{supabase_url}/auth/v1/.well-known/jwks.json"
        host = urlsplit(supabase_url).hostname or "" if supabase_url else ""
        project_ref = host.split(".")[0] if host.endswith((".supabase.co", ".supabase.in")) else None
        issuer = env.get("COLLAB_JWT_ISSUER")
        if issuer is None and mode == "jwks" and supabase_url:
            issuer = f"{supabase_url}/auth/v1"
        return cls(
            mode=cast(Literal["local", "jwks"] | None, mode),
            jwt_secret=get("SUPABASE_JWT_SECRET"), jwks_url=jwks_url if mode == "jwks" else None,
            jwks=jwks, audience=get("COLLAB_JWT_AUDIENCE") or "authenticated",
            issuer=(issuer or "").strip() or None,
            api_key=get("COLLAB_API_KEY"), require_jwt=_flag(env, "COLLAB_REQUIRE_JWT"),
            leeway=_seconds(get("COLLAB_JWT_LEEWAY"), "COLLAB_JWT_LEEWAY", 30),
            jwks_ttl=_seconds(get("COLLAB_JWKS_TTL"), "COLLAB_JWKS_TTL", 600),
            max_lifetime=_seconds(get("COLLAB_JWT_MAX_LIFETIME"), "COLLAB_JWT_MAX_LIFETIME", 604800),
            require_iat=_flag(env, "COLLAB_JWT_REQUIRE_IAT"), project_ref=project_ref)


class VerifiedTokens:
    """The identities of recently verified tokens, so that a client sending the same
    bearer token with every request costs one signature check, not one per request. An
    entry lives until its token expires (``exp`` plus the leeway) and at most
    ``ttl`` seconds (a key removed from the JWKS stops being trusted by then); at most
    ``size`` entries (the oldest go first). Thread-safe."""

    def __init__(self, *, leeway: float, ttl: float = 60.0, size: int = 4096) -> None:
        self.leeway, self.ttl, self.size = leeway, ttl, size
        self._entries: dict[str, tuple[Identity, float]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> Identity | None:
        """The identity ``token`` proved, if it was verified recently and is still valid."""
        entry = self._entries.get(token)
        if entry is None or time.time() >= entry[1]:
            return None
        return entry[0]

    def put(self, token: str, identity: Identity) -> Identity:
        """Remember a verified token's identity; returns it."""
        exp = identity.claims.get("exp")
        until = time.time() + self.ttl
        if isinstance(exp, (int, float)):
            until = min(until, exp + self.leeway)
        with self._lock:
            if len(self._entries) >= self.size:
                for old in list(self._entries)[: self.size // 4]:
                    self._entries.pop(old, None)
            self._entries[token] = (identity, until)
        return identity


class Authenticator:
    """Turns request headers into an ``Identity`` (see the module doc); one per process,
    so that a fetched JWKS stays cached. Thread-safe."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self.algorithms = JWT_ALGORITHMS[config.mode] if config.mode else ()
        self._jwks: JwksCache | None = None
        self._verified = VerifiedTokens(leeway=config.leeway)
        self._api_identity = Identity(role="service_role", subject=None, claims={"role": "service_role"},
                                      via="api_key")
        if config.mode == "jwks":
            self._jwks = JwksCache(url=config.jwks_url, static=config.jwks, ttl=config.jwks_ttl,
                                   cooldown=config.jwks_cooldown, timeout=config.jwks_timeout)

    def authenticate(self, headers: Mapping[str, str]) -> Identity:
        """The caller of a request with these headers; may fetch the JWKS (blocking)."""
        token = self._credentials(headers)
        return token if isinstance(token, Identity) else self.verify_token(token)

    async def authenticate_async(self, headers: Mapping[str, str]) -> Identity:
        """``authenticate`` for event loops: a JWKS fetch does not block the loop."""
        token = self._credentials(headers)
        return token if isinstance(token, Identity) else await self.verify_token_async(token)

    def verify_token(self, token: str) -> Identity:
        """The identity a bare JWT proves (e.g. one sent over a WebSocket)."""
        known = self._verified.get(token)
        if known is not None:
            return known
        return self._verified.put(token, self._verify(token))

    async def verify_token_async(self, token: str) -> Identity:
        """``verify_token`` with a non-blocking JWKS fetch."""
        known = self._verified.get(token)
        if known is not None:
            return known
        return self._verified.put(token, await self._verify_async(token))

    def _verify(self, token: str) -> Identity:
        header = self._header(token)
        if self._jwks is None:
            return self._decode(token, self.config.jwt_secret or "", ["HS256"])
        try:
            key = self._jwks.get(header["kid"])
        except JwksError as exc:
            raise _jwks_error(exc) from None
        return self._decode_with(token, header, key)

    async def _verify_async(self, token: str) -> Identity:
        header = self._header(token)
        if self._jwks is None:
            return self._decode(token, self.config.jwt_secret or "", ["HS256"])
        try:
            key = await self._jwks.get_async(header["kid"])
        except JwksError as exc:
            raise _jwks_error(exc) from None
        return self._decode_with(token, header, key)

    def _credentials(self, headers: Mapping[str, str]) -> str | Identity:
        authorization, api_key = _header_value(headers, "authorization"), _header_value(headers, "x-api-key")
        # A present Authorization header decides, even empty: a caller that sent one meant
        # to be that token's caller, never to fall back to an API key sent beside it.
        if authorization is not None:
            scheme, _, token = authorization.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthError("invalid_token", "Authorization must be 'Bearer <token>'")
            return token.strip()
        if api_key:
            return self._check_api_key(api_key)
        wanted = "Authorization: Bearer <JWT>" + ("" if self.config.require_jwt else " or x-api-key")
        raise AuthError("missing_credentials", f"no credentials: send {wanted}")

    def _check_api_key(self, given: str) -> Identity:
        if self.config.require_jwt:
            raise AuthError("jwt_required", "API keys are not accepted here: send a Bearer JWT")
        expected = self.config.api_key
        if expected is None or not hmac.compare_digest(given.encode(), expected.encode()):
            raise AuthError("invalid_api_key", "the API key is not valid")
        return self._api_identity

    def _header(self, token: str) -> dict[str, Any]:
        if self.config.mode is None:
            raise AuthError("jwt_not_configured", "JWTs are not accepted: no secret or JWKS is configured")
        if len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
            raise AuthError("invalid_token", "the token is not a JWT")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("invalid_token", "the token is not a JWT") from None
        for name in FORBIDDEN_HEADERS:
            if name in header:
                raise AuthError("invalid_token", f"token header {name!r} is not accepted")
        if header.get("alg") not in self.algorithms:
            raise AuthError("algorithm_not_allowed", f"algorithm {header.get('alg')!r} is not accepted "
                            f"in {self.config.mode} mode (only {', '.join(self.algorithms)})")
        if self._jwks is not None and not (isinstance(header.get("kid"), str) and header["kid"]):
            raise AuthError("invalid_token", "the token names no key (kid)")
        return header

    def _decode_with(self, token: str, header: Mapping[str, Any], key: VerifyingKey) -> Identity:
        if key.alg != header["alg"]:
            raise AuthError("algorithm_not_allowed", f"key {key.kid!r} is a {key.alg} key, "
                            f"not {header['alg']}")
        return self._decode(token, key.key, [key.alg])

    def _decode(self, token: str, key: Any, algorithms: list[str]) -> Identity:
        config = self.config
        if _legacy_service_key_shape(token):
            return self._decode_service_key(token, key, algorithms)
        required = ["exp", "sub", "role", *(["iat"] if config.require_iat else [])]
        try:
            claims = jwt.decode(token, key, algorithms=algorithms, audience=config.audience,
                                issuer=config.issuer, leeway=config.leeway,
                                options={"require": required, "verify_iss": config.issuer is not None})
        except jwt.PyJWTError as exc:
            raise _token_error(exc) from None
        _check_times(claims)
        subject, role = claims["sub"], claims["role"]
        issued = claims.get("iat", time.time())
        if role == "authenticated" and claims["exp"] - issued > config.max_lifetime:
            raise AuthError("token_lifetime_too_long",
                            f"the token lives {int(claims['exp'] - issued)} s; at most "
                            f"{config.max_lifetime:g} s are accepted (COLLAB_JWT_MAX_LIFETIME)")
        if not isinstance(subject, str) or not subject:
            raise AuthError("missing_claim", "the token has an empty 'sub' claim")
        if role not in config.allowed_roles:
            raise AuthError("role_not_allowed", f"role {role!r} is not accepted")
        return Identity(role=role, subject=subject, claims=claims, via="jwt", token=token)

    def _decode_service_key(self, token: str, key: Any, algorithms: list[str]) -> Identity:
        """Supabase's legacy ``service_role`` key (see the module doc)."""
        config = self.config
        required = ["exp", "role", "ref", *(["iat"] if config.require_iat else [])]
        try:
            claims = jwt.decode(token, key, algorithms=algorithms, issuer=_LEGACY_ISSUER,
                                leeway=config.leeway, options={"require": required, "verify_aud": False})
        except jwt.PyJWTError as exc:
            raise _token_error(exc) from None
        _check_times(claims)
        if not _is_legacy_service_key(claims) or "service_role" not in config.allowed_roles:
            raise AuthError("invalid_token", "the token is not a Supabase service_role key")
        if config.project_ref is not None and claims["ref"] != config.project_ref:
            raise AuthError("invalid_claim", "the service_role key is for another Supabase project")
        return Identity(role="service_role", subject=None, claims=claims, via="jwt", token=token)


#: The ``iss`` of Supabase's legacy API keys (anon and service_role).
_LEGACY_ISSUER = "supabase"


def _is_legacy_service_key(claims: Mapping[str, Any]) -> bool:
    """Whether ``claims`` have the shape of Supabase's legacy ``service_role`` key."""
    ref = claims.get("ref")
    return (claims.get("role") == "service_role" and claims.get("iss") == _LEGACY_ISSUER
            and isinstance(ref, str) and bool(ref) and "sub" not in claims and "aud" not in claims)


def _legacy_service_key_shape(token: str) -> bool:
    """Whether the (not yet verified) token claims to be a legacy ``service_role`` key;
    ``_decode_service_key`` verifies it as one."""
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return isinstance(unverified, dict) and _is_legacy_service_key(unverified)


def mint_token(secret: str, *, sub: str, role: str = "authenticated",
               executors: dict[str, str] | None = None, expires_in: int = 3600,
               audience: str = "authenticated", issuer: str | None = None,
               extra: Mapping[str, Any] | None = None) -> str:
    """An HS256 token shaped like a Supabase access token, for local development
    (``COLLAB_JWT_MODE=local`` with the same ``secret``). ``executors`` (executor id ->
    role) go to ``app_metadata.collab_executors`` as hints; the database's membership
    table decides. ``extra`` claims are merged last."""
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigurationError(f"the secret must be at least {MIN_SECRET_CHARS} characters")
    if expires_in <= 0:
        raise ValidationError("expires_in must be positive", code="CL400")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub, "role": role, "aud": audience, "iat": now, "exp": now + expires_in,
        "session_id": str(uuid.uuid4()), "is_anonymous": False,
        "app_metadata": {"provider": "collab", "collab_executors": dict(executors or {})},
        "user_metadata": {},
    }
    if issuer is not None:
        claims["iss"] = issuer
    claims.update(extra or {})
    return jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "JWT"})


#: The latest time a numeric date claim may name: 9999-12-31T23:59:59Z.
MAX_NUMERIC_DATE = 253402300799


def _check_times(claims: Mapping[str, Any]) -> None:
    """``exp``, ``iat`` and ``nbf`` (where present) must be integral JSON numbers within
    0 … ``MAX_NUMERIC_DATE``: PyJWT coerces ``"9999999999"`` and accepts ``1e300``."""
    for name in ("exp", "iat", "nbf"):
        if name not in claims:
            continue
        value = claims[name]
        integral = (isinstance(value, int) and not isinstance(value, bool)) or \
            (isinstance(value, float) and value.is_integer())
        if not integral or not 0 <= value <= MAX_NUMERIC_DATE:
            raise AuthError("invalid_claim", f"the token's {name!r} claim must be a whole number of "
                            f"seconds since 1970 up to year 9999, not {str(value)[:40]!r}")


def _header_value(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = (env.get(name) or "").strip().lower()
    if value not in _TRUE | _FALSE:
        raise ConfigurationError(f"{name} must be one of 1/true/yes/on or 0/false/no/off, not {value!r}")
    return value in _TRUE


def _seconds(value: str | None, name: str, default: float) -> float:
    try:
        seconds = default if value is None else float(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, not {value!r}") from None
    if not seconds >= 0:  # also refuses NaN
        raise ConfigurationError(f"{name} must not be negative")
    return seconds


def _usable_keys(jwks: Mapping[str, Any] | None) -> int:
    try:
        return len(parse_jwks(jwks))
    except JwksError:
        return 0


def _jwks_error(exc: JwksError) -> AuthError:
    return AuthError(exc.code, exc.message, unavailable=exc.code == "jwks_unavailable")


def _token_error(exc: jwt.PyJWTError) -> AuthError:
    errors: list[tuple[type[jwt.PyJWTError], str, str]] = [
        (jwt.ExpiredSignatureError, "token_expired", "the token has expired"),
        (jwt.ImmatureSignatureError, "token_not_yet_valid", "the token is not valid yet"),
        (jwt.InvalidAudienceError, "invalid_audience", "the token is for another audience"),
        (jwt.InvalidIssuerError, "invalid_issuer", "the token is from another issuer"),
        (jwt.MissingRequiredClaimError, "missing_claim", f"the token lacks a claim: {exc}"),
        (jwt.InvalidSignatureError, "invalid_signature", "the token's signature does not verify"),
        (jwt.InvalidAlgorithmError, "algorithm_not_allowed", "the token's algorithm is not accepted"),
    ]
    for kind, code, message in errors:
        if isinstance(exc, kind):
            return AuthError(code, message)
    return AuthError("invalid_token", f"the token is not valid: {exc}")
