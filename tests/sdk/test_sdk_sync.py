"""``CollabClient`` is the async client's blocking face: same methods, same answers."""

from __future__ import annotations

import inspect
import threading
from pathlib import Path

import pytest

from collab_sdk import AsyncCollabClient, CollabClient, LocalStorage
from collab_sdk.errors import LeaseLost, NotFound


def _public_methods(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls, callable) if not name.startswith("_")}


def test_every_async_method_has_a_blocking_twin() -> None:
    missing = _public_methods(AsyncCollabClient) - _public_methods(CollabClient) - {"aclose", "from_url", "from_env"}
    assert not missing, f"CollabClient lacks {sorted(missing)}"
    assert CollabClient.assign.__doc__ == AsyncCollabClient.assign.__doc__


def test_sync_flow_and_errors(db_url: str, tmp_path: Path) -> None:
    with CollabClient.from_url(db_url, storage=LocalStorage(tmp_path)) as client:
        assigned = client.assign("t.sync", executor_id="ex", payload={"n": 1})
        job = client.claim("ex", "w1")
        assert job is not None and job.id == assigned.job_id
        artifact = client.upload_artifact(job.id, "out.txt", b"hello", worker_id="w1")
        assert artifact.size == 5 and (tmp_path / "artifacts" / artifact.path).read_bytes() == b"hello"
        client.complete(job.id, "w1", result={"n": 2})
        with pytest.raises(LeaseLost):
            client.complete(job.id, "w2")
        with pytest.raises(LeaseLost):
            client.complete_and_claim(job.id, "w2", executor_id="ex")
        with pytest.raises(NotFound):
            client.get_job("00000000-0000-0000-0000-000000000000")
        client.assign_many([{"type": "t.sync", "executor_id": "ex"} for _ in range(7)])
        assert len(list(client.iter_jobs(executor_id="ex", page_size=3))) == 8
    assert client._loop.loop.is_closed()


def test_one_sync_client_shared_by_threads(db_url: str) -> None:
    with CollabClient.from_url(db_url, max_size=4) as client:
        client.assign_many([{"type": "t.par", "executor_id": "ex"} for _ in range(200)])
        done: list[str] = []
        lock = threading.Lock()

        def work(worker: str) -> None:
            while jobs := client.claim_many("ex", worker, max_jobs=7):
                for job in jobs:
                    client.complete(job.id, worker)
                    with lock:
                        done.append(str(job.id))

        threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(done) == 200 == len(set(done))
        assert client.stats(executor_id="ex").succeeded == 200


def test_acting_as_shares_the_pool_and_applies_rls(db_url: str, member) -> None:  # type: ignore[no-untyped-def]
    with CollabClient.from_url(db_url) as service:
        theirs = service.assign("t.x", executor_id="exec-b").job_id
        user = service.acting_as("authenticated", {"sub": str(member({"exec-a": "worker"}))})
        mine = user.assign("t.x", executor_id="exec-a").job_id
        with pytest.raises(NotFound):
            user.get_job(theirs)
        assert [j.id for j in user.iter_jobs()] == [mine]
        user.close()  # leaves the shared loop and pool to `service`
        assert service.get_job(mine).executor_id == "exec-a"
