"""The SDK's retention: ``purge`` in batches (the API unchanged), the policy, one pass of
it, and the removal of deleted artifacts' Storage objects — through every transport."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.errors import Forbidden
from collab_sdk.local.storage import LocalStorage
from support import Caller
from support.retention import finished_runs, published_one_step, seed_finished


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "objects", secret="a-test-signing-secret-of-32-bytes!!")


async def _uploaded(client: AsyncCollabClient, owner: Caller, count: int) -> list[str]:
    """``count`` finished jobs, each with an uploaded artifact; their object paths."""
    paths = []
    for i in range(count):
        job_id = (await client.assign("t.art", executor_id="ex")).job_id
        paths.append((await client.upload_artifact(job_id, f"a{i}.txt", b"bytes")).path)
    owner.sql("update collab.jobs set status = 'succeeded', finished_at = now() - interval '2 days'")
    return paths


async def test_purge_deletes_in_batches_and_removes_the_objects(
        client: AsyncCollabClient, owner: Caller, storage: LocalStorage) -> None:
    client.storage = storage
    paths = await _uploaded(client, owner, 3)
    seed_finished(owner.conn, due=25, kept=5)
    assert all(storage.object_file("artifacts", p).is_file() for p in paths)
    assert await client.purge(older_than_seconds=3600, executor_id="ex", statuses=["succeeded", "failed",
                                                                                   "cancelled"], batch_size=4) == 28
    assert not any(storage.object_file("artifacts", p).exists() for p in paths)
    assert owner.sql("select count(*) as n from collab.storage_deletions")[0]["n"] == 0
    assert owner.sql("select count(*) as n from collab.jobs")[0]["n"] == 5


async def test_purge_without_storage_leaves_the_objects_listed(client: AsyncCollabClient, owner: Caller,
                                                               storage: LocalStorage) -> None:
    client.storage = storage
    paths = await _uploaded(client, owner, 2)
    client.storage = None
    assert await client.purge(executor_id="ex") == 2
    assert owner.sql("select count(*) as n from collab.storage_deletions")[0]["n"] == 2
    client.storage = storage
    assert await client.remove_deleted_objects("ex") == 2
    assert not any(storage.object_file("artifacts", p).exists() for p in paths)


async def test_policy_and_apply_as_users(connect: Any, owner: Caller,
                                         member: Callable[[dict[str, str]], Any]) -> None:
    admin = await connect(as_="user", user_id=member({"ex": "admin"}))
    worker = await connect(as_="user", user_id=member({"ex": "worker"}))
    assert (await worker.retention_policy("ex")).is_default
    policy = await admin.set_retention_policy("ex", succeeded_seconds=None, failed_seconds=60)
    assert (policy.succeeded_seconds, policy.failed_seconds, policy.cancelled_seconds) == (None, 60, 86400)
    assert not policy.is_default
    with pytest.raises(Forbidden):
        await worker.set_retention_policy("ex", enabled=False)
    seed_finished(owner.conn, due=30, kept=0)
    done = await worker.apply_retention("ex", "w1", batch_size=7)
    assert (done.ran, done.done, done.purged, done.dead_letters) == (True, True, 20, 10)  # succeeded kept
    assert not (await worker.apply_retention("ex", "w2")).ran  # the next pass is not due
    with pytest.raises(Forbidden):
        await admin.purge()  # every executor: trusted callers only


async def test_purge_runs_deletes_finished_runs_in_batches(client: AsyncCollabClient, owner: Caller) -> None:
    finished_runs(owner, 5)
    owner.sql("update collab.workflow_runs set completed_at = now() - interval '2 days'")
    young = owner.value("start_run_v1", workflow_id=published_one_step(owner))["run"]["id"]  # live, and young
    assert await client.purge_runs(older_than_seconds=3600, executor_id="ex", batch_size=2) == 5
    assert [r["id"] for r in owner.sql("select id::text from collab.workflow_runs")] == [str(young)]
    assert owner.sql("select count(*) as n from collab.jobs where workflow_run_id <> %s", (young,))[0]["n"] == 0
