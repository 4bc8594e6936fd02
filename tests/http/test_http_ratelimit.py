"""The rate limit under a flood: counted exactly in Postgres across threads and
processes' worth of apps, 429 with Retry-After above it, no 5xx, the pool survives."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

from collab_sdk.http import Settings
from collab_sdk.local.storage import LocalStorage
from http_support import Api, make_runtime, serving
from support import Caller, raises_sqlstate


def test_a_flood_is_counted_exactly(db_url: str, storage: LocalStorage, api: Api) -> None:
    settings = Settings(rate_limit=50, rate_window_seconds=3600)
    with ExitStack() as stack:  # two "instances"
        apps = [stack.enter_context(serving(make_runtime(db_url, storage, settings=settings)))
                for _ in range(2)]
        headers = {"Authorization": f"Bearer {api.user({'ex': 'client'})}"}

        def one(i: int) -> tuple[int, str | None]:
            response = apps[i % 2].get("/api/collab/jobs/stats", headers=headers)
            return response.status_code, response.headers.get("Retry-After")

        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(one, range(200)))
        statuses = Counter(status for status, _ in results)
        assert statuses == {200: 50, 429: 150}
        assert all(retry and int(retry) >= 1 for status, retry in results if status == 429)
        # the pools are still usable afterwards
        assert apps[0].get("/api/collab/jobs/stats", headers=api.as_service()).status_code == 200


def test_only_trusted_callers_count_hits(owner: Caller, make_user: object) -> None:
    user = make_user()  # type: ignore[operator]
    with raises_sqlstate("CL403"):
        user.rpc("rate_limit_hit_v1", key="sub:someone-else", limit=1, window_seconds=60)
    anon = Caller(owner.url, role="anon")
    try:
        with raises_sqlstate("42501"):
            anon.rpc("rate_limit_hit_v1", key="k", limit=1, window_seconds=60)
    finally:
        anon.close()
    first = owner.one("rate_limit_hit_v1", key="k", limit=1, window_seconds=60)
    second = owner.one("rate_limit_hit_v1", key="k", limit=1, window_seconds=60)
    assert first == {"allowed": True, "hits": 1, "remaining": 0, "retry_after": 0}
    assert second is not None and second["allowed"] is False and 1 <= second["retry_after"] <= 60
    with raises_sqlstate("CL400"):
        owner.rpc("rate_limit_hit_v1", key="k", limit=0, window_seconds=60)
    assert owner.sql("select count(*) as n from collab.rate_limits")[0]["n"] == 1
    with raises_sqlstate("42501"):  # users cannot read the counters at all
        user.sql("select * from collab.rate_limits")


