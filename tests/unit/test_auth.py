"""collab_sdk.auth.tokens with real keys and real signatures: HS256 (legacy secret), RS256 and ES256
(JWKS, given offline or fetched over HTTP through respx), and the x-api-key path."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from collab_sdk.auth.jwks import parse_jwks
from collab_sdk.auth.tokens import (AuthConfig, Authenticator, AuthError, Identity, VerifiedTokens,
                                   mint_token)
from collab_sdk.errors import CollabError, ConfigurationError, Unauthorized, ValidationError
from support.secret_capture import register_secret

SECRET = "local-dev-secret-" + "0123456789abcdef" * 4
register_secret(SECRET)
PROJECT = "https://abcdefghijklmnop.supabase.co"
ISSUER = f"{PROJECT}/auth/v1"
JWKS_URL = f"{ISSUER}/.well-known/jwks.json"
USER = str(uuid.uuid4())

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
NEW_EC_KEY = ec.generate_private_key(ec.SECP256R1())


def jwk(private_key: Any, kid: str, **extra: Any) -> dict[str, Any]:
    """The public JWK of ``private_key`` as Supabase publishes it."""
    public = private_key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        data = RSAAlgorithm.to_jwk(public, as_dict=True) | {"alg": "RS256"}
    else:
        data = ECAlgorithm.to_jwk(public, as_dict=True) | {"alg": "ES256"}
    return data | {"kid": kid, "use": "sig", "key_ops": ["verify"]} | extra


JWKS = {"keys": [jwk(RSA_KEY, "rsa-1"), jwk(EC_KEY, "ec-1")]}


def claims(**changes: Any) -> dict[str, Any]:
    """A Supabase access token's claims; a change to None removes the claim."""
    now = int(time.time())
    base = {"iss": ISSUER, "sub": USER, "aud": "authenticated", "exp": now + 3600, "iat": now,
            "role": "authenticated", "session_id": str(uuid.uuid4()), "aal": "aal1",
            "email": "a@example.com", "is_anonymous": False,
            "app_metadata": {"provider": "email"}, "user_metadata": {}}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def craft(header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes] | None) -> str:
    """A token put together by hand, for what PyJWT refuses to produce."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode())) if sign else ''}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def rejected(auth: Authenticator, headers: dict[str, str], code: str) -> AuthError:
    with pytest.raises(AuthError) as raised:
        auth.authenticate(headers)
    assert raised.value.reason == code, raised.value
    return raised.value


@dataclass
class Scheme:
    """One way of signing tokens and the authenticator that accepts them."""

    alg: str
    auth: Authenticator
    key: Any
    kid: str | None

    def sign(self, payload: dict[str, Any], **headers: Any) -> str:
        if self.kid:
            headers = {"kid": self.kid} | headers
        return jwt.encode(payload, self.key, algorithm=self.alg, headers=headers)


LOCAL = AuthConfig(mode="local", jwt_secret=SECRET, issuer=ISSUER)
OFFLINE = AuthConfig(mode="jwks", jwks=JWKS, issuer=ISSUER)


@pytest.fixture(params=["HS256", "RS256", "ES256"])
def scheme(request: pytest.FixtureRequest) -> Scheme:
    if request.param == "HS256":
        return Scheme("HS256", Authenticator(LOCAL), SECRET, None)
    key, kid = (RSA_KEY, "rsa-1") if request.param == "RS256" else (EC_KEY, "ec-1")
    return Scheme(request.param, Authenticator(OFFLINE), key, kid)


# --- tokens accepted -------------------------------------------------------------------

def test_a_valid_token_gives_the_user_identity(scheme: Scheme) -> None:
    payload = claims()
    identity = scheme.auth.authenticate(bearer(scheme.sign(payload)))
    assert identity == Identity(role="authenticated", subject=USER, claims=payload, via="jwt")


def test_a_verified_token_is_remembered_until_it_expires(scheme: Scheme, monkeypatch: pytest.MonkeyPatch) -> None:
    now = int(time.time())
    token = scheme.sign(claims(iat=now, exp=now + 100))
    first = scheme.auth.authenticate(bearer(token))
    assert scheme.auth.authenticate(bearer(token)) is first  # no second signature check
    head, body, signature = token.split(".")
    forged = f"{head}.{b64(json.dumps(claims(sub=str(uuid.uuid4()))).encode())}.{signature}"
    rejected(scheme.auth, bearer(forged), "invalid_signature")  # another token: verified
    monkeypatch.setattr(time, "time", lambda: now)
    remembered = VerifiedTokens(leeway=30, ttl=60)
    remembered.put(token, first)
    monkeypatch.setattr(time, "time", lambda: now + 59)
    assert remembered.get(token) is first
    monkeypatch.setattr(time, "time", lambda: now + 61)  # at most ttl seconds
    assert remembered.get(token) is None
    short = VerifiedTokens(leeway=30, ttl=600)
    short.put(token, first)
    monkeypatch.setattr(time, "time", lambda: now + 100 + 29)
    assert short.get(token) is first
    monkeypatch.setattr(time, "time", lambda: now + 100 + 31)  # never past exp and the leeway
    assert short.get(token) is None


def test_header_names_and_scheme_are_case_insensitive(scheme: Scheme) -> None:
    identity = scheme.auth.authenticate({"AUTHORIZATION": f"bearer  {scheme.sign(claims())} "})
    assert identity.subject == USER


def test_service_role_tokens_pass_and_other_roles_do_not(scheme: Scheme) -> None:
    assert scheme.auth.authenticate(bearer(scheme.sign(claims(role="service_role")))).role == "service_role"
    for role in ("postgres", "anon", "supabase_admin"):
        rejected(scheme.auth, bearer(scheme.sign(claims(role=role))), "role_not_allowed")


def test_clock_skew_within_the_leeway_is_tolerated(scheme: Scheme) -> None:
    now = int(time.time())
    token = scheme.sign(claims(exp=now - 10, iat=now + 10, nbf=now + 10))
    assert scheme.auth.authenticate(bearer(token)).subject == USER


def test_mint_token_round_trips() -> None:
    token = mint_token(SECRET, sub=USER, executors={"ex-a": "worker"}, expires_in=600)
    identity = Authenticator(AuthConfig(mode="local", jwt_secret=SECRET)).authenticate(bearer(token))
    assert (identity.role, identity.subject, identity.via) == ("authenticated", USER, "jwt")
    assert identity.claims["aud"] == "authenticated"
    assert identity.claims["exp"] - identity.claims["iat"] == 600
    assert identity.claims["app_metadata"]["collab_executors"] == {"ex-a": "worker"}
    assert identity.executor_hints == {"ex-a": "worker"}
    service = mint_token(SECRET, sub="svc", role="service_role", issuer=ISSUER, extra={"email": "s@x"})
    identity = Authenticator(LOCAL).authenticate(bearer(service))
    assert identity.role == "service_role" and identity.claims["email"] == "s@x"
    rejected(Authenticator(LOCAL), bearer(mint_token(SECRET, sub=USER)), "missing_claim")  # no iss
    with pytest.raises(ConfigurationError, match="at least 32"):
        mint_token("short", sub=USER)
    with pytest.raises(ValidationError, match="positive"):
        mint_token(SECRET, sub=USER, expires_in=0)


# --- tokens refused, in every scheme ---------------------------------------------------

def test_expired_beyond_the_leeway(scheme: Scheme) -> None:
    error = rejected(scheme.auth, bearer(scheme.sign(claims(exp=int(time.time()) - 45))), "token_expired")
    assert not error.unavailable and isinstance(error, Unauthorized) and isinstance(error, CollabError)


@pytest.mark.parametrize("claim", ["exp", "sub", "role", "aud"])
def test_a_missing_claim(scheme: Scheme, claim: str) -> None:
    rejected(scheme.auth, bearer(scheme.sign(claims(**{claim: None}))), "missing_claim")


def test_a_token_without_iat_passes_unless_the_operator_requires_it(scheme: Scheme) -> None:
    """PostgREST accepts a token without ``iat``; ``COLLAB_JWT_REQUIRE_IAT`` refuses it."""
    token = scheme.sign(claims(iat=None))
    assert scheme.auth.authenticate(bearer(token)).subject == USER
    strict = Authenticator(replace(scheme.auth.config, require_iat=True))
    rejected(strict, bearer(token), "missing_claim")
    assert AuthConfig.from_env({"SUPABASE_JWT_SECRET": SECRET, "COLLAB_JWT_REQUIRE_IAT": "on"}).require_iat
    assert not AuthConfig.from_env({"SUPABASE_JWT_SECRET": SECRET}).require_iat
    # Without iat the lifetime counts from now: a far exp is still too long.
    far = scheme.sign(claims(iat=None, exp=int(time.time()) + 8 * 86400))
    rejected(scheme.auth, bearer(far), "token_lifetime_too_long")


def legacy_service_key(**changes: Any) -> dict[str, Any]:
    """The claims of Supabase's legacy ``service_role`` key; a change to None removes one."""
    now = int(time.time())
    base: dict[str, Any] = {"iss": "supabase", "ref": "abcdefghijklmnopqrst", "role": "service_role",
                            "iat": now, "exp": now + 10 * 365 * 86400}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def test_the_legacy_service_role_key_is_the_service_role(scheme: Scheme) -> None:
    identity = scheme.auth.authenticate(bearer(scheme.sign(legacy_service_key())))
    assert (identity.role, identity.subject, identity.via) == ("service_role", None, "jwt")
    assert scheme.auth.authenticate(bearer(scheme.sign(legacy_service_key(iat=None)))).role == "service_role"
    config = AuthConfig.from_env({"SUPABASE_URL": "https://abcdefghijklmnopqrst.supabase.co",
                                  "COLLAB_JWKS": json.dumps(JWKS)})
    assert config.project_ref == "abcdefghijklmnopqrst"


@pytest.mark.parametrize("changes, code", [
    ({"role": "authenticated"}, "missing_claim"),       # a user token must have sub and aud
    ({"role": "anon"}, "missing_claim"),                # the anon key is no caller
    ({"iss": "https://evil.example"}, "missing_claim"),  # not Supabase's key shape: the normal rules
    ({"iss": None}, "missing_claim"),
    ({"ref": None}, "missing_claim"),
    ({"sub": "someone"}, "invalid_issuer"),             # with sub it is no legacy key: the normal rules
    ({"aud": "authenticated"}, "missing_claim"),        # with aud it is no legacy key: sub needed
    ({"exp": None}, "missing_claim"),
    ({"exp": 1}, "token_expired"),
    ({"exp": "9999999999"}, "invalid_claim"),
    ({"iat": int(time.time()) + 3600}, "token_not_yet_valid"),
])
def test_what_is_not_exactly_the_legacy_key_is_refused(scheme: Scheme, changes: dict[str, Any],
                                                       code: str) -> None:
    rejected(scheme.auth, bearer(scheme.sign(legacy_service_key(**changes))), code)


def test_a_legacy_key_of_another_project_or_another_secret_is_refused() -> None:
    ours = Authenticator(replace(LOCAL, project_ref="abcdefghijklmnopqrst"))
    token = jwt.encode(legacy_service_key(ref="zzzzzzzzzzzzzzzzzzzz"), SECRET, algorithm="HS256")
    rejected(ours, bearer(token), "invalid_claim")
    assert ours.authenticate(bearer(jwt.encode(legacy_service_key(), SECRET, algorithm="HS256"))).role \
        == "service_role"
    forged = jwt.encode(legacy_service_key(), "another-secret-that-is-at-least-32-characters", algorithm="HS256")
    rejected(ours, bearer(forged), "invalid_signature")
    unsigned = craft({"alg": "none", "typ": "JWT"}, legacy_service_key(), None)
    rejected(ours, bearer(unsigned), "algorithm_not_allowed")
    strict = Authenticator(replace(LOCAL, require_iat=True))
    rejected(strict, bearer(jwt.encode(legacy_service_key(iat=None), SECRET, algorithm="HS256")), "missing_claim")
    no_service = Authenticator(replace(LOCAL, allowed_roles=("authenticated",)))
    rejected(no_service, bearer(jwt.encode(legacy_service_key(), SECRET, algorithm="HS256")), "invalid_token")


def test_an_empty_subject(scheme: Scheme) -> None:
    rejected(scheme.auth, bearer(scheme.sign(claims(sub=""))), "missing_claim")


@pytest.mark.parametrize("value", ["9999999999", 1e300, 1.5, True, -1, 253402300800, [1], None])
@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_numeric_dates_must_be_whole_numbers_in_bounds(scheme: Scheme, claim: str, value: Any) -> None:
    """A signed token whose exp is the string "9999999999" or 1e300 never expired: PyJWT
    coerces strings and takes any float. Refused now, as is anything not integral."""
    if value is None:
        payload = claims() | {claim: float("nan")}  # json.dumps writes NaN, which JSON lacks
        token = craft({"alg": "HS256", "typ": "JWT"}, payload,
                      lambda data: hmac.new(SECRET.encode(), data, hashlib.sha256).digest())
        if scheme.alg != "HS256":
            return
    else:
        token = scheme.sign(claims(**{claim: value}))
    with pytest.raises(AuthError) as raised:
        scheme.auth.authenticate(bearer(token))
    assert raised.value.reason in {"invalid_claim", "invalid_token", "token_not_yet_valid", "token_expired",
                                   "token_lifetime_too_long"}, raised.value
    if claim == "exp" and value in ("9999999999", 1e300, 253402300800):  # these never expired before
        assert raised.value.reason == "invalid_claim", raised.value


def test_integral_floats_are_numbers_too(scheme: Scheme) -> None:
    now = int(time.time())
    identity = scheme.auth.authenticate(bearer(scheme.sign(claims(iat=float(now), exp=float(now + 60)))))
    assert identity.subject == USER


def test_a_token_may_not_live_longer_than_the_maximum(scheme: Scheme) -> None:
    now = int(time.time())
    long_lived = scheme.sign(claims(iat=now, exp=now + 8 * 86400))
    error = rejected(scheme.auth, bearer(long_lived), "token_lifetime_too_long")
    assert "COLLAB_JWT_MAX_LIFETIME" in error.message
    service = scheme.sign(claims(role="service_role", iat=now, exp=now + 10 * 365 * 86400))
    assert scheme.auth.authenticate(bearer(service)).role == "service_role"  # the legacy key's shape
    config = AuthConfig.from_env({"SUPABASE_JWT_SECRET": SECRET, "COLLAB_JWT_MAX_LIFETIME": "60"})
    assert config.max_lifetime == 60
    with pytest.raises(ConfigurationError):
        AuthConfig.from_env({"SUPABASE_JWT_SECRET": SECRET, "COLLAB_JWT_MAX_LIFETIME": "nan"})


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_not_yet_valid(scheme: Scheme, claim: str) -> None:
    token = scheme.sign(claims(**{claim: int(time.time()) + 120}))
    rejected(scheme.auth, bearer(token), "token_not_yet_valid")


@pytest.mark.parametrize("aud", ["anon", "service", ["other"]])
def test_wrong_audience(scheme: Scheme, aud: Any) -> None:
    rejected(scheme.auth, bearer(scheme.sign(claims(aud=aud))), "invalid_audience")


def test_wrong_or_missing_issuer(scheme: Scheme) -> None:
    rejected(scheme.auth, bearer(scheme.sign(claims(iss="https://evil.supabase.co/auth/v1"))), "invalid_issuer")
    rejected(scheme.auth, bearer(scheme.sign(claims(iss=None))), "missing_claim")


@pytest.mark.parametrize("header", [{"jku": "https://evil.example/jwks.json"},
                                    {"x5u": "https://evil.example/cert.pem"},
                                    {"jwk": {"kty": "oct", "k": "AA"}}, {"x5c": ["MIIB"]},
                                    {"crit": ["exp"]}])
def test_key_location_and_critical_headers_are_refused(scheme: Scheme, header: dict[str, Any]) -> None:
    # Correctly signed: only the header check stands between this token and acceptance.
    rejected(scheme.auth, bearer(scheme.sign(claims(), **header)), "invalid_token")


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none(scheme: Scheme, alg: str) -> None:
    header = {"alg": alg, "typ": "JWT"} | ({"kid": scheme.kid} if scheme.kid else {})
    rejected(scheme.auth, bearer(craft(header, claims(), None)), "algorithm_not_allowed")


def test_a_tampered_payload(scheme: Scheme) -> None:
    head, _, signature = scheme.sign(claims()).split(".")
    forged = b64(json.dumps(claims(role="service_role")).encode())
    rejected(scheme.auth, bearer(f"{head}.{forged}.{signature}"), "invalid_signature")


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "a.b", "x" * 9000, "e30.e30.e30.e30",
                                   f"{b64(b'not json')}.{b64(b'{}')}.sig"])
def test_malformed_tokens(scheme: Scheme, token: str) -> None:
    rejected(scheme.auth, {"authorization": f"Bearer {token}"}, "invalid_token")


def test_only_bearer_is_accepted_in_authorization(scheme: Scheme) -> None:
    rejected(scheme.auth, {"Authorization": f"Basic {b64(b'user:pass')}"}, "invalid_token")
    rejected(scheme.auth, {"Authorization": scheme.sign(claims())}, "invalid_token")


# --- algorithm pinning -----------------------------------------------------------------

def test_bad_hs256_signature() -> None:
    token = jwt.encode(claims(), "another-secret-that-is-long-enough-to-use", algorithm="HS256")
    rejected(Authenticator(LOCAL), bearer(token), "invalid_signature")


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_local_mode_accepts_hs256_only(alg: str) -> None:
    rejected(Authenticator(LOCAL), bearer(jwt.encode(claims(), SECRET, algorithm=alg)), "algorithm_not_allowed")


@pytest.mark.parametrize("key, alg", [(RSA_KEY, "RS256"), (EC_KEY, "ES256")])
def test_asymmetric_tokens_are_refused_in_local_mode(key: Any, alg: str) -> None:
    token = jwt.encode(claims(), key, algorithm=alg, headers={"kid": "k"})
    rejected(Authenticator(LOCAL), bearer(token), "algorithm_not_allowed")


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
def test_hs256_signed_with_the_rsa_public_key_is_refused_in_jwks_mode(encoding: serialization.Encoding) -> None:
    public = RSA_KEY.public_key().public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo)
    token = craft({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims(),
                  lambda data: hmac.new(public, data, hashlib.sha256).digest())
    rejected(Authenticator(OFFLINE), bearer(token), "algorithm_not_allowed")


def test_hs256_signed_with_an_oct_key_in_the_jwks_is_refused() -> None:
    secret = b"symmetric-key-published-by-mistake"
    oct_jwk = {"kty": "oct", "kid": "oct-1", "k": b64(secret), "alg": "HS256"}
    token = craft({"alg": "HS256", "typ": "JWT", "kid": "oct-1"}, claims(),
                  lambda data: hmac.new(secret, data, hashlib.sha256).digest())
    auth = Authenticator(AuthConfig(mode="jwks", jwks={"keys": [*JWKS["keys"], oct_jwk]}, issuer=ISSUER))
    rejected(auth, bearer(token), "algorithm_not_allowed")


@pytest.mark.parametrize("key, alg, kid", [(RSA_KEY, "RS256", "ec-1"), (EC_KEY, "ES256", "rsa-1")])
def test_the_keys_own_algorithm_must_match_the_token(key: Any, alg: str, kid: str) -> None:
    token = jwt.encode(claims(), key, algorithm=alg, headers={"kid": kid})
    error = rejected(Authenticator(OFFLINE), bearer(token), "algorithm_not_allowed")
    assert f"key {kid!r} is a" in error.message  # refused by the key check, before PyJWT's


def test_a_signature_by_another_key_under_a_known_kid() -> None:
    token = jwt.encode(claims(), OTHER_RSA_KEY, algorithm="RS256", headers={"kid": "rsa-1"})
    rejected(Authenticator(OFFLINE), bearer(token), "invalid_signature")


def test_unknown_or_missing_kid_in_an_offline_jwks() -> None:
    token = jwt.encode(claims(), RSA_KEY, algorithm="RS256", headers={"kid": "rsa-9"})
    rejected(Authenticator(OFFLINE), bearer(token), "unknown_key")
    rejected(Authenticator(OFFLINE), bearer(jwt.encode(claims(), RSA_KEY, algorithm="RS256")), "invalid_token")


def test_only_public_es256_and_rs256_signing_keys_are_kept() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    private = RSAAlgorithm.to_jwk(RSA_KEY, as_dict=True) | {"kid": "private", "alg": "RS256"}
    keys = parse_jwks({"keys": [
        jwk(RSA_KEY, "good-rsa"), jwk(EC_KEY, "good-ec"),
        jwk(RSA_KEY, "enc", use="enc"), jwk(weak, "weak"), private,
        jwk(RSA_KEY, "lies", alg="ES256"), jwk(EC_KEY, "ps", alg="PS256"),
        {"kty": "oct", "kid": "oct", "k": "c2VjcmV0"}, {"kty": "RSA"}, "junk"]})
    assert sorted(keys) == ["good-ec", "good-rsa"]
    assert parse_jwks({"keys": [{k: v for k, v in jwk(EC_KEY, "derived").items() if k != "alg"}]})["derived"].alg == "ES256"


# --- the API key -----------------------------------------------------------------------

API = AuthConfig(mode="local", jwt_secret=SECRET, api_key="k3y-" + "x" * 28)
register_secret(API.api_key or "")


def test_the_right_api_key_is_the_service_role(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    identity = Authenticator(API).authenticate({"X-API-Key": API.api_key or ""})
    assert identity == Identity(role="service_role", subject=None, claims={"role": "service_role"},
                                via="api_key")
    assert compared == [((API.api_key or "").encode(), (API.api_key or "").encode())]
    identity.claims["role"] = "postgres"  # a caller changing its copy changes no one else's
    assert Authenticator(API).authenticate({"x-api-key": API.api_key or ""}).claims == {"role": "service_role"}


@pytest.mark.parametrize("key", ["wrong", "k3y-", "K3Y-" + "x" * 28, "k3y-" + "x" * 28 + " x", "ключ"])
def test_a_wrong_api_key(key: str) -> None:
    rejected(Authenticator(API), {"x-api-key": key}, "invalid_api_key")


def test_an_api_key_when_none_is_configured() -> None:
    rejected(Authenticator(LOCAL), {"x-api-key": "anything"}, "invalid_api_key")


def test_no_credentials() -> None:
    error = rejected(Authenticator(API), {"content-type": "application/json"}, "missing_credentials")
    assert "x-api-key" in error.message
    rejected(Authenticator(API), {"x-api-key": ""}, "missing_credentials")


def test_an_empty_authorization_header_does_not_fall_back_to_the_api_key() -> None:
    """A present Authorization header decides, even empty (schemathesis sent one beside a
    valid key and the request was served as the service role)."""
    rejected(Authenticator(API), {"authorization": "", "x-api-key": API.api_key or ""}, "invalid_token")


def test_an_api_key_is_refused_when_jwt_is_required() -> None:
    auth = Authenticator(AuthConfig(mode="local", jwt_secret=SECRET, api_key=API.api_key, require_jwt=True))
    rejected(auth, {"x-api-key": API.api_key or ""}, "jwt_required")
    assert "x-api-key" not in rejected(auth, {}, "missing_credentials").message
    assert auth.authenticate(bearer(mint_token(SECRET, sub=USER))).subject == USER


def test_a_bad_bearer_token_does_not_fall_back_to_the_api_key() -> None:
    rejected(Authenticator(API), {"authorization": "Bearer nope", "x-api-key": API.api_key or ""}, "invalid_token")


def test_a_token_when_no_jwt_verification_is_configured() -> None:
    auth = Authenticator(AuthConfig(api_key=API.api_key))
    rejected(auth, bearer(mint_token(SECRET, sub=USER)), "jwt_not_configured")
    assert auth.authenticate({"x-api-key": API.api_key or ""}).via == "api_key"


# --- configuration from the environment ------------------------------------------------

def test_from_env_local_mode() -> None:
    config = AuthConfig.from_env({"COLLAB_JWT_MODE": "local", "SUPABASE_JWT_SECRET": SECRET,
                                  "COLLAB_API_KEY": "the-api-key", "COLLAB_REQUIRE_JWT": "1"})
    assert (config.mode, config.jwt_secret, config.api_key, config.require_jwt) == ("local", SECRET, "the-api-key", True)
    assert (config.audience, config.issuer, config.leeway) == ("authenticated", None, 30)
    assert SECRET not in repr(config) and "the-api-key" not in repr(config)


@pytest.mark.parametrize("env, mode", [
    ({"SUPABASE_JWT_SECRET": SECRET}, "local"),
    ({"SUPABASE_URL": PROJECT}, "jwks"),
    ({"SUPABASE_URL": PROJECT, "SUPABASE_JWT_SECRET": SECRET}, "jwks"),
    ({"SUPABASE_URL": PROJECT, "SUPABASE_JWT_SECRET": SECRET, "COLLAB_JWT_MODE": "local"}, "local"),
    ({"COLLAB_JWKS": json.dumps(JWKS)}, "jwks"),
    ({"COLLAB_API_KEY": "k"}, None),
])
def test_from_env_default_mode(env: dict[str, str], mode: str | None) -> None:
    assert AuthConfig.from_env(env).mode == mode


def test_from_env_jwks_from_supabase_url() -> None:
    config = AuthConfig.from_env({"SUPABASE_URL": PROJECT + "/", "COLLAB_JWT_AUDIENCE": "collab"})
    assert (config.jwks_url, config.issuer, config.audience) == (JWKS_URL, ISSUER, "collab")
    assert AuthConfig.from_env({"SUPABASE_URL": PROJECT, "COLLAB_JWT_ISSUER": ""}).issuer is None
    assert AuthConfig.from_env({"SUPABASE_URL": "http://127.0.0.1:54321"}).issuer == "http://127.0.0.1:54321/auth/v1"


def test_from_env_jwks_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(JWKS))
    config = AuthConfig.from_env({"COLLAB_JWKS": str(path), "SUPABASE_URL": PROJECT})
    assert config.jwks == JWKS and config.jwks_url is None and config.issuer == ISSUER
    token = jwt.encode(claims(), EC_KEY, algorithm="ES256", headers={"kid": "ec-1"})
    assert Authenticator(config).authenticate(bearer(token)).subject == USER


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("YES", True), ("on", True),
                                             ("0", False), ("false", False), ("off", False), ("", False)])
def test_require_jwt_flag(value: str, expected: bool) -> None:
    env = {"SUPABASE_JWT_SECRET": SECRET, "COLLAB_REQUIRE_JWT": value}
    assert AuthConfig.from_env(env).require_jwt is expected


@pytest.mark.parametrize("env", [
    {"COLLAB_JWT_MODE": "local"},
    {"COLLAB_JWT_MODE": "local", "SUPABASE_JWT_SECRET": "too-short"},
    {"COLLAB_JWT_MODE": "jwks"},
    {"COLLAB_JWT_MODE": "hs256", "SUPABASE_JWT_SECRET": SECRET},
    {"SUPABASE_URL": "http://abcdefghijklmnop.supabase.co"},
    {"COLLAB_JWKS": '{"keys": []}'},
    {"COLLAB_JWKS": "/nonexistent/jwks.json"},
    {"SUPABASE_JWT_SECRET": SECRET, "COLLAB_REQUIRE_JWT": "ture"},
    {"SUPABASE_JWT_SECRET": SECRET, "COLLAB_JWT_LEEWAY": "300"},
    {"SUPABASE_JWT_SECRET": SECRET, "COLLAB_JWT_LEEWAY": "soon"},
    {"SUPABASE_URL": PROJECT, "COLLAB_JWKS_TTL": "nan"},
    {"COLLAB_API_KEY": "k", "COLLAB_REQUIRE_JWT": "1"},
])
def test_bad_configuration_fails_loudly(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        AuthConfig.from_env(env)


# --- the JWKS fetched over HTTP --------------------------------------------------------

def fetched(jwks_ttl: float = 600, cooldown: float = 30) -> tuple[Authenticator, list[float]]:
    """An authenticator reading ``JWKS_URL``, with a clock the test moves."""
    config = AuthConfig.from_env({"SUPABASE_URL": PROJECT})
    config = AuthConfig(**{**config.__dict__, "jwks_ttl": jwks_ttl, "jwks_cooldown": cooldown})
    auth = Authenticator(config)
    now = [1000.0]
    assert auth._jwks is not None
    auth._jwks._clock = lambda: now[0]  # the cache's clock, moved by hand
    return auth, now


def es256(key: Any = EC_KEY, kid: str = "ec-1", **changes: Any) -> str:
    return jwt.encode(claims(**changes), key, algorithm="ES256", headers={"kid": kid})


@respx.mock(assert_all_mocked=True)
def test_the_jwks_is_fetched_once_from_the_projects_url(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(JWKS_URL).respond(json=JWKS)
    auth, _ = fetched()
    for _ in range(10):
        assert auth.authenticate(bearer(es256())).subject == USER
        assert auth.authenticate(bearer(jwt.encode(claims(), RSA_KEY, algorithm="RS256",
                                                   headers={"kid": "rsa-1"}))).subject == USER
    assert route.call_count == 1
    assert str(route.calls.last.request.url) == JWKS_URL


@respx.mock(assert_all_mocked=True)
def test_threads_share_one_fetch(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(JWKS_URL).respond(json=JWKS)
    auth, _ = fetched()
    with ThreadPoolExecutor(16) as pool:
        subjects = set(pool.map(lambda _: auth.authenticate(bearer(es256())).subject, range(64)))
    assert subjects == {USER} and route.call_count == 1


@respx.mock(assert_all_mocked=True)
def test_the_jwks_is_refetched_after_its_ttl(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(JWKS_URL).respond(json=JWKS)
    auth, now = fetched(jwks_ttl=600)
    calls = []
    for seconds in (0, 599, 2):  # fetched, cached at 599 s, stale at 601 s
        now[0] += seconds
        assert auth.authenticate(bearer(es256())).subject == USER
        calls.append(route.call_count)
    assert calls == [1, 1, 2]


@respx.mock(assert_all_mocked=True)
def test_an_unknown_kid_refetches_once_and_finds_a_rotated_key(respx_mock: respx.MockRouter) -> None:
    rotated = {"keys": [*JWKS["keys"], jwk(NEW_EC_KEY, "ec-2")]}
    route = respx_mock.get(JWKS_URL)
    route.side_effect = [httpx.Response(200, json=JWKS), httpx.Response(200, json=rotated)]
    auth, now = fetched()
    auth.authenticate(bearer(es256()))
    now[0] += 31  # past the cool-down since the first fetch
    assert auth.authenticate(bearer(es256(NEW_EC_KEY, "ec-2"))).subject == USER
    assert route.call_count == 2
    assert auth.authenticate(bearer(es256(NEW_EC_KEY, "ec-2"))).subject == USER
    assert route.call_count == 2


@respx.mock(assert_all_mocked=True)
def test_a_flood_of_unknown_kids_fetches_once_per_cooldown(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(JWKS_URL).respond(json=JWKS)
    auth, now = fetched(cooldown=30)
    auth.authenticate(bearer(es256()))
    now[0] += 40
    for n in range(50):
        rejected(auth, bearer(es256(kid=f"made-up-{n}")), "unknown_key")
        assert auth.authenticate(bearer(es256())).subject == USER  # good keys stay cached
        now[0] += 0.5  # 25 s in all: still inside one cool-down
    assert route.call_count == 2
    now[0] += 10
    rejected(auth, bearer(es256(kid="made-up-again")), "unknown_key")
    assert route.call_count == 3


@pytest.mark.parametrize("answer", [
    httpx.Response(500, text="oops"), httpx.Response(500, json=JWKS), httpx.Response(404), httpx.Response(200, text="<html>"),
    httpx.Response(200, json={"no": "keys"}), httpx.Response(302, headers={"location": "https://evil.example/jwks"}),
    httpx.ConnectTimeout("timed out"), httpx.ConnectError("refused"),
])
def test_a_failed_fetch_refuses_the_token(answer: Any) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        route = router.get(JWKS_URL)
        route.side_effect = [answer]
        auth, now = fetched()
        error = rejected(auth, bearer(es256()), "jwks_unavailable")
        assert error.unavailable and JWKS_URL in error.message
        rejected(auth, bearer(es256()), "jwks_unavailable")  # no new fetch inside the cool-down
        assert route.call_count == 1
        route.side_effect = None
        route.respond(json=JWKS)
        now[0] += 31
        assert auth.authenticate(bearer(es256())).subject == USER


@respx.mock(assert_all_mocked=True)
def test_expired_keys_are_not_used_when_the_refetch_fails(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(JWKS_URL)
    route.side_effect = [httpx.Response(200, json=JWKS), httpx.Response(503)]
    auth, now = fetched(jwks_ttl=600)
    auth.authenticate(bearer(es256()))
    now[0] += 601
    rejected(auth, bearer(es256()), "jwks_unavailable")


@respx.mock(assert_all_mocked=True)
async def test_async_many_tokens_at_once_fetch_once(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(JWKS_URL).respond(json=JWKS)
    auth, _ = fetched()
    identities = await asyncio.gather(*(auth.authenticate_async(bearer(es256())) for _ in range(20)))
    assert {i.subject for i in identities} == {USER} and route.call_count == 1
    with pytest.raises(AuthError) as raised:
        await auth.authenticate_async(bearer(es256(exp=int(time.time()) - 100)))
    assert raised.value.reason == "token_expired"


@respx.mock(assert_all_mocked=True)
async def test_async_fetch_failure_refuses(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(JWKS_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    auth, _ = fetched()
    with pytest.raises(AuthError) as raised:
        await auth.authenticate_async(bearer(es256()))
    assert raised.value.reason == "jwks_unavailable" and raised.value.unavailable
