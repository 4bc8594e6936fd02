"""Readiness, Prometheus metrics and the start-up credentials warning, against
``collab serve`` processes: ``/ready`` follows a real database that is stopped and started
again, ``/metrics`` parses with ``prometheus_client``'s parser and its counts move with
real jobs (one series per executor) and with open streams, Swagger's "Try it out" uses
the server it was loaded from."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from collab_sdk import CollabClient
from collab_sdk.local.embedded import EmbeddedPostgres
from collab_sdk.local.migrate import migrate
from http_support import API_KEY, start_server
from support.waiting import wait_for


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text answer, by name and labels."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return samples(httpx.get(url, headers={"x-api-key": API_KEY}, timeout=10).text)


def wait_for_status(url: str, status: int, timeout: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(url, timeout=10)
        if answer.status_code == status:
            return answer
        assert time.monotonic() < deadline, f"{url} stayed {answer.status_code}: {answer.text}"
        time.sleep(0.2)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A database server of this test alone, so that it can be stopped."""
    server = EmbeddedPostgres(tmp_path / "pg", settings={"max_connections": "50"})
    migrate(server.start())
    yield server
    server.stop("immediate")


@pytest.mark.slow
def test_ready_follows_the_database_while_health_stays_up(own_server: EmbeddedPostgres,
                                                          tmp_path: Path) -> None:
    port = own_server.port()
    with start_server(own_server.url(), tmp_path, COLLAB_API_KEY=API_KEY, COLLAB_REQUIRE_JWT="0") as server:
        ready = httpx.get(f"{server.base}/api/collab/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["ok"] is True and ready.json()["schemaVersion"] >= 4
        own_server.stop("immediate")
        down = wait_for_status(f"{server.base}/api/collab/ready", 503)
        assert down.json()["error"]["code"] == "not_ready"
        assert "database" in down.json()["error"]["message"]
        assert httpx.get(f"{server.base}/api/collab/health").status_code == 200  # liveness
        own_server.start(port=port)
        wait_for_status(f"{server.base}/api/collab/ready", 200, timeout=30)


def jobs_series(executor: str, type_: str, state: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The key of ``collab_jobs{executor,type,state}`` in ``samples(...)``."""
    return "collab_jobs", (("executor", executor), ("state", state), ("type", type_))


def test_metrics_parse_and_move_with_real_jobs_one_series_per_executor(db_url: str,
                                                                       tmp_path: Path) -> None:
    with start_server(db_url, tmp_path, COLLAB_API_KEY=API_KEY, COLLAB_REQUIRE_JWT="0") as server:
        url = f"{server.base}/metrics"
        assert httpx.get(url).status_code == 401  # protected
        before = samples(httpx.get(url, headers={"x-api-key": API_KEY}).text)
        assert ("collab_http_open_streams", ()) in before
        with CollabClient.from_url(db_url) as client:
            for _ in range(3):
                client.assign("obs.work", executor_id="ex-a")
            client.assign("obs.work", executor_id="ex-b")
            job = client.claim("ex-a", "w1")
            assert job is not None
            client.complete(job.id, "w1", result={"ok": True}, attempt=job.attempts)
            client.heartbeat("w2", "ex-b")
        answer = httpx.get(url, headers={"x-api-key": API_KEY})
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
        after = samples(answer.text)
        streams = ("collab_http_open_streams", ())
        assert after[streams] == 0
        with httpx.stream("GET", f"{server.base}/api/collab/events/stream?executorId=ex-a",
                          headers={"x-api-key": API_KEY}, timeout=10) as live:
            assert live.status_code == 200
            wait_for(lambda: scrape(url)[streams] == 1, what="the open stream counted")
        wait_for(lambda: scrape(url)[streams] == 0, what="the closed stream uncounted")
    queued_a, queued_b = (jobs_series(ex, "obs.work", "queued") for ex in ("ex-a", "ex-b"))
    assert before.get(queued_a, 0) == 0 and after[queued_a] == 2 and after[queued_b] == 1, after
    assert after[jobs_series("ex-a", "obs.work", "succeeded")] == 1
    assert jobs_series("ex-b", "obs.work", "succeeded") not in after
    jobs = {labels: value for (name, labels), value in after.items() if name == "collab_jobs"}
    assert len(jobs) == 3 and sum(jobs.values()) == 4, jobs  # never summed over executors
    assert after[("collab_dead_letters", (("executor", "ex-a"),))] == 0
    assert after[("collab_active_workers", (("executor", "ex-a"),))] == 0
    assert after[("collab_active_workers", (("executor", "ex-b"),))] == 1


def test_swagger_uses_the_server_it_was_loaded_from_and_no_credentials_warns(db_url: str,
                                                                             tmp_path: Path) -> None:
    with start_server(db_url, tmp_path, COLLAB_REQUIRE_JWT="0", COLLAB_JWT_MODE="",
                      SUPABASE_JWT_SECRET="") as server:
        spec = httpx.get(f"{server.base}/docs.json").json()
        assert spec["servers"][0]["url"] == "/"
        assert "/api/collab/ready" in spec["paths"] and "/metrics" in spec["paths"]
        log = server.log.read_text()
    assert "no credentials are configured" in log and "COLLAB_API_KEY" in log, log
