"""The JWKS half of ``collab_sdk.auth.tokens``: which keys of a key set may verify tokens, and a
cache that fetches the set with httpx.

Only ES256 (``kty`` EC, ``crv`` P-256) and RS256 (``kty`` RSA, at least 2048 bits) public
signing keys with a ``kid`` are kept; any other key (``oct`` secrets, private keys,
``use`` other than ``sig``, an ``alg`` outside that pair or contradicting ``kty``) is
skipped, so a token naming it is refused as an unknown key.

The cache refetches the set when it is older than ``ttl``, and once more when a token
names a ``kid`` it does not hold, but not more than once per ``cooldown`` (a flood of
made-up ``kid`` values costs one request per cool-down, and known keys stay cached).
A failed fetch is never a reason to accept a token: it raises ``JwksError`` and the
next attempt waits for the cool-down too.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt import PyJWK, PyJWTError

from collab_sdk.errors import ConfigurationError

__all__ = ["ALGORITHMS", "JwksError", "VerifyingKey", "parse_jwks", "JwksCache", "load_jwks_text",
           "check_jwks_url"]

#: Token algorithm -> the (kty, crv) its key must have.
ALGORITHMS: dict[str, tuple[str, str | None]] = {"ES256": ("EC", "P-256"), "RS256": ("RSA", None)}
MAX_JWKS_BYTES = 256 * 1024
MIN_RSA_BITS = 2048


class JwksError(Exception):
    """No key for a token: ``code`` is ``jwks_unavailable`` or ``unknown_key``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class VerifyingKey:
    """A public key from the set, with the one algorithm it verifies."""

    kid: str
    alg: str
    key: PyJWK


def parse_jwks(data: object) -> dict[str, VerifyingKey]:
    """The usable keys of a JWKS document, by ``kid`` (see the module doc)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        raise JwksError("jwks_unavailable", "not a JWKS (an object with a 'keys' list)")
    keys: dict[str, VerifyingKey] = {}
    for jwk in data["keys"]:
        key = _parse_key(jwk)
        if key is not None:
            keys[key.kid] = key
    return keys


def _parse_key(jwk: object) -> VerifyingKey | None:
    if not isinstance(jwk, dict):
        return None
    kid, kty, crv = jwk.get("kid"), jwk.get("kty"), jwk.get("crv")
    if not isinstance(kid, str) or not kid or jwk.get("use", "sig") != "sig" or "d" in jwk:
        return None
    alg = jwk.get("alg")
    if alg is None:  # derive it from the key type, as RFC 7517 allows
        alg = "ES256" if kty == "EC" and crv == "P-256" else "RS256" if kty == "RSA" else None
    if alg not in ALGORITHMS:
        return None
    want_kty, want_crv = ALGORITHMS[alg]
    if kty != want_kty or (want_crv is not None and crv != want_crv):
        return None
    try:
        key = PyJWK(jwk, algorithm=alg)
    except (PyJWTError, ValueError, TypeError):
        return None
    if isinstance(key.key, RSAPublicKey) and key.key.key_size < MIN_RSA_BITS:
        return None
    return VerifyingKey(kid, alg, key)


class JwksCache:
    """The keys of a JWKS, either ``static`` (a parsed document, never refetched) or
    fetched from ``url`` and cached; ``get`` / ``get_async`` return the key for a ``kid``
    or raise ``JwksError``."""

    def __init__(self, *, url: str | None = None, static: Mapping[str, Any] | None = None,
                 ttl: float = 600.0, cooldown: float = 30.0, timeout: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if (url is None) == (static is None):
            raise ConfigurationError("JwksCache needs exactly one of url and static")
        self.url = url
        self.ttl, self.cooldown, self.timeout, self._clock = ttl, cooldown, timeout, clock
        self._keys: dict[str, VerifyingKey] | None = None if static is None else parse_jwks(static)
        self._fetched_at = self._failed_at = float("-inf")
        self._lock = threading.Lock()
        self._async_lock: asyncio.Lock | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None

    def get(self, kid: str) -> VerifyingKey:
        """The key named ``kid``, fetching the set (blocking) if it is due."""
        if self.url is not None:
            with self._lock:
                if self._due(kid):
                    self._load(self._fetch_sync(self.url))
        return self._find(kid)

    async def get_async(self, kid: str) -> VerifyingKey:
        """The key named ``kid``, fetching the set (with ``httpx.AsyncClient``) if due."""
        if self.url is not None:
            async with self._loop_lock():
                if self._due(kid):
                    self._load(await self._fetch_async(self.url))
        return self._find(kid)

    def _due(self, kid: str) -> bool:
        now = self._clock()
        expired = self._keys is None or now - self._fetched_at >= self.ttl
        if now - self._failed_at < self.cooldown:
            if expired:
                raise JwksError("jwks_unavailable", f"the JWKS at {self.url} could not be fetched; "
                                "not retrying before the cool-down ends")
            return False
        return expired or (kid not in (self._keys or {}) and now - self._fetched_at >= self.cooldown)

    def _load(self, outcome: httpx.Response | JwksError) -> None:
        try:
            if isinstance(outcome, JwksError):
                raise outcome
            keys = _keys_of(self.url or "", outcome)
        except JwksError:
            self._failed_at = self._clock()
            raise
        self._keys, self._fetched_at = keys, self._clock()

    def _find(self, kid: str) -> VerifyingKey:
        key = (self._keys or {}).get(kid)
        if key is None:
            raise JwksError("unknown_key", f"no usable ES256/RS256 key with kid {kid!r} in the JWKS")
        return key

    def _fetch_sync(self, url: str) -> httpx.Response | JwksError:
        try:
            with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
                return client.get(url, headers={"accept": "application/json"})
        except httpx.HTTPError as exc:
            return _fetch_failed(url, exc)

    async def _fetch_async(self, url: str) -> httpx.Response | JwksError:
        try:
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
                return await client.get(url, headers={"accept": "application/json"})
        except httpx.HTTPError as exc:
            return _fetch_failed(url, exc)

    def _loop_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._async_lock is None or self._async_loop is not loop:
            self._async_lock, self._async_loop = asyncio.Lock(), loop
        return self._async_lock


def _fetch_failed(url: str, exc: httpx.HTTPError) -> JwksError:
    error = JwksError("jwks_unavailable", f"fetching the JWKS at {url} failed: {type(exc).__name__}")
    error.__cause__ = exc
    return error


def _keys_of(url: str, response: httpx.Response) -> dict[str, VerifyingKey]:
    if response.status_code != 200:
        raise JwksError("jwks_unavailable", f"the JWKS at {url} answered HTTP {response.status_code}")
    if len(response.content) > MAX_JWKS_BYTES:
        raise JwksError("jwks_unavailable", f"the JWKS at {url} is larger than {MAX_JWKS_BYTES} bytes")
    try:
        data = response.json()
    except ValueError as exc:
        raise JwksError("jwks_unavailable", f"the JWKS at {url} is not JSON") from exc
    try:
        return parse_jwks(data)
    except JwksError as exc:
        raise JwksError(exc.code, f"the answer from {url} is {exc.message}") from None


def load_jwks_text(text: str) -> Mapping[str, Any]:
    """``COLLAB_JWKS``: JWKS JSON text, or the path of a file holding it."""
    try:
        loaded = json.loads(text if text.lstrip().startswith("{") else Path(text).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"COLLAB_JWKS is neither JWKS JSON nor a readable JWKS file: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigurationError("COLLAB_JWKS must be a JSON object with a 'keys' list")
    return loaded


def check_jwks_url(url: str) -> None:
    """Refuse a JWKS URL that is not https (plain http only to this machine)."""
    parts = urlsplit(url)
    local = parts.hostname in ("localhost", "127.0.0.1", "::1", "host.docker.internal")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise ConfigurationError(f"the JWKS URL must use https (http only for localhost): {url}")
