"""Auth (D10) and CORS (D11) of the workflow API: a valid JWT passes and acts under RLS;
invalid, expired and missing tokens are 401 on every route but ``/health``; a member of
another executor gets 404 for what it cannot see; preflights are answered for every
method of a path, with credentials, for the editor's dev origin and configured ones."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from collab_sdk.auth.tokens import mint_token
from collab_sdk.http import Settings
from collab_sdk.http.v1.routes import ROUTES
from http_support import SECRET, Api, assert_error, make_runtime, serving
from v1_support import V1, chain, node, ok, published, register, start


def test_a_valid_jwt_passes_and_sees_its_executor_only(api: Api) -> None:
    register(api, "team-a")
    alice = api.user({"team-a": "client"})
    mine = published(api, chain(node("a")), alice)
    assert mine["executor_id"] == "team-a"
    assert [w["id"] for w in ok(api.get(f"{V1}/workflows", alice))["items"]] == [mine["id"]]
    run = start(api, mine, alice)
    assert ok(api.get(f"{V1}/runs/{run['id']}", alice))["id"] == run["id"]


@pytest.mark.parametrize("how", ["missing", "expired", "forged", "garbage", "basic"])
def test_invalid_expired_and_missing_tokens_are_401_on_every_route(api: Api, how: str) -> None:
    user = str(uuid.uuid4())
    headers = {
        "missing": {},
        "expired": api.bearer(mint_token(SECRET, sub=user, extra={"exp": int(time.time()) - 60})),
        "forged": api.bearer(mint_token("another-secret-that-is-long-enough-000000", sub=user)),
        "garbage": api.bearer("not.a.jwt"),
        "basic": {"Authorization": "Basic YTpi"},
    }[how]
    for route in ROUTES:
        if not route.auth:
            continue
        path = V1 + (route.path or "").replace("<workflow_id>", str(uuid.uuid4())) \
            .replace("<run_id>", str(uuid.uuid4())).replace("<schedule_id>", str(uuid.uuid4()))
        answer = api.http.request(route.method, path, headers=headers, json={} if route.body else None)
        assert answer.status_code == 401, (route.name, answer.text)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert ok(api.http.get("/health"))["ok"] is True  # no auth


def test_a_member_of_another_executor_gets_404(api: Api) -> None:
    register(api, "team-a")
    alice, bob = api.user({"team-a": "admin"}), api.user({"team-b": "admin"})
    wf = published(api, chain(node("a")), alice)
    run = start(api, wf, alice)
    for path in (f"/workflows/{wf['id']}", f"/runs/{run['id']}", f"/runs/{run['id']}/steps",
                 f"/runs/{run['id']}/events"):
        assert_error(api.get(V1 + path, bob), 404, "not_found")
    for path, body in ((f"/workflows/{wf['id']}/run", {}), (f"/workflows/{wf['id']}/duplicate", {}),
                       (f"/workflows/{wf['id']}/publish", None), (f"/runs/{run['id']}/cancel", {}),
                       (f"/runs/{run['id']}/resume", {"step_id": "a"}), (f"/runs/{run['id']}/retry", None),
                       ("/triggers/schedule", {"workflow_id": wf["id"], "cron": "* * * * *"})):
        assert_error(api.post(V1 + path, body, bob), 404, "not_found")
    assert_error(api.delete(f"{V1}/workflows/{wf['id']}", bob), 404, "not_found")
    assert ok(api.get(f"{V1}/workflows", bob))["count"] == 0
    assert ok(api.get(f"{V1}/runs", bob))["count"] == 0
    assert ok(api.get(f"{V1}/runs/{run['id']}", alice))["status"] != "cancelled"


def test_cors_for_the_editors_dev_origin_and_configured_ones(db_url: str, tmp_path: Path) -> None:
    from collab_sdk.local.storage import LocalStorage
    settings = Settings.from_env({"COLLAB_ENV": "development", "COLLAB_CORS_ORIGINS": "https://app.example",
                                  "COLLAB_RATE_LIMIT": "off"})
    runtime = make_runtime(db_url, LocalStorage(tmp_path), settings)
    with serving(runtime) as http:
        for origin in ("http://localhost:5173", "https://app.example"):
            preflight = http.options(f"{V1}/workflows/{uuid.uuid4()}", headers={
                "Origin": origin, "Access-Control-Request-Method": "PUT"})
            assert preflight.status_code == 204
            assert preflight.headers["Access-Control-Allow-Origin"] == origin
            assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
            assert {"GET", "PUT", "DELETE"} <= set(preflight.headers["Access-Control-Allow-Methods"].split(", "))
            assert "X-Idempotency-Key" in preflight.headers["Access-Control-Allow-Headers"]
            answer = http.get(f"{V1}/workflows", headers={"Origin": origin})
            assert answer.status_code == 401 and answer.headers["Access-Control-Allow-Origin"] == origin
        evil = http.options(f"{V1}/workflows", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in evil.headers
    production = Settings.from_env({"COLLAB_CORS_ORIGINS": "https://app.example"})
    assert not production.allows_origin("http://localhost:5173")
    anything = Settings.from_env({"COLLAB_CORS_ORIGINS": "*"})
    assert anything.allows_origin("https://x.example") and not anything.allows_credentials("https://x.example")
    off = Settings.from_env({"COLLAB_ENV": "dev", "COLLAB_CORS_CREDENTIALS": "off"})
    assert off.allows_origin("http://localhost:5173") and not off.allows_credentials("http://localhost:5173")
