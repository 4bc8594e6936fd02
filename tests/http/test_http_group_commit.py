"""Group commit of ``task.result`` (``collab_sdk.http.group_commit``), against real Postgres
through the ASGI app (over a database URL, and over ``SupabaseTransport`` and the
PostgREST stand-in) and a real ``collab serve`` process.

A batch window is made deterministic by a transaction holding the row lock of each lane's
first job: that request's ``complete_job_v1`` waits in the database, the lane's later
requests queue behind it, and when the lock goes they leave in one ``complete_jobs_v1``
call. Which requests shared a commit is read from the database: a job's ``succeeded``
event carries its transaction's id (``job_events.xact_id``)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
import jwt
import psycopg
import pytest

from collab_sdk.auth.tokens import AuthConfig, Authenticator, mint_token
from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.http import Runtime, Settings
from collab_sdk.local.storage import LocalStorage
from collab_sdk.transports.supabase.rpc import SupabaseTransport
from http_support import API_KEY, SECRET, Api, Server, assert_error, serving
from support import Caller, add_members, assign, expire_lease, job
from support.postgrest_standin import JWT_SECRET, SECRET_KEY, PostgrestServer
from support.waiting import wait_for

RESULT = "/api/collab/task.result"


def _leased(owner: Caller, n: int, executor: str = "ex", worker: str = "w") -> list[str]:
    """``n`` new jobs of ``executor``, leased by ``worker`` (attempt 1)."""
    kind = f"t.{uuid.uuid4().hex[:8]}"  # claimed by type: no other job (an expired lease) joins
    ids = [assign(owner, type=kind, executor_id=executor) for _ in range(n)]
    rows = owner.rpc("claim_jobs_v1", executor_id=executor, worker_id=worker, max_jobs=n, types=[kind])
    assert {r["id"] for r in rows} == set(ids)
    return [str(i) for i in ids]


def _body(job_id: str, **kw: Any) -> dict[str, Any]:
    return {"jobId": job_id, "ok": True, "workerId": "w", "attempt": 1, **kw}


def _xacts(owner: Caller, job_ids: Sequence[str]) -> dict[str, int]:
    """Each job's ``succeeded`` event's transaction id."""
    rows = owner.sql("select job_id::text as id, xact_id::text::bigint as x from collab.job_events "
                     "where event_type = 'succeeded' and job_id = any(%s::uuid[])", (list(job_ids),))
    return {r["id"]: r["x"] for r in rows}


@contextmanager
def _locked(db_url: str, job_ids: Sequence[str]) -> Iterator[psycopg.Connection]:
    """A transaction holding these jobs' row locks until the block ends."""
    with psycopg.connect(db_url) as conn:
        conn.execute("select 1 from collab.jobs where id = any(%s::uuid[]) for update", (list(job_ids),))
        yield conn
        conn.rollback()


def _lock_waiters(owner: Caller) -> int:
    """Backends of this database waiting for a row lock."""
    return int(owner.sql("select count(*) as n from pg_stat_activity where datname = current_database() "
                         "and wait_event_type = 'Lock'")[0]["n"])


class Window:
    """Requests through the ASGI app on its own loop: ``heads`` first (they wait for the
    locked rows), then ``rest`` once the heads wait in the database; the lock is released
    when every request of ``rest`` is queued behind its lane's head."""

    def __init__(self, api: Api, db_url: str) -> None:
        self.api, self.db_url = api, db_url

    def run(self, heads: Sequence[tuple[str, dict[str, Any]]], rest: Sequence[tuple[str, dict[str, Any]]],
            queued: int | None = None) -> tuple[list[httpx.Response], list[httpx.Response]]:
        """``(token, body)`` requests; their answers. ``queued``: how many of ``rest``
        wait in a lane (the others go straight to their own calls); all by default."""
        locked = [body["jobId"] for _, body in heads]
        with _locked(self.db_url, locked) as lock:
            return self.api.run(self._send, heads, rest, len(rest) if queued is None else queued, lock)

    async def _send(self, heads: Sequence[tuple[str, dict[str, Any]]], rest: Sequence[tuple[str, dict[str, Any]]],
                    queued: int, lock: psycopg.Connection) -> tuple[list[httpx.Response], list[httpx.Response]]:
        app = self.api.http.app
        owner, group = self.api.owner, self.api.runtime.group_commit
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                     timeout=30) as http:
            def post(token: str, body: dict[str, Any]) -> asyncio.Task[httpx.Response]:
                return asyncio.ensure_future(http.post(RESULT, json=body, headers=self.api.bearer(token)
                                                       if token else self.api.as_service()))
            first = [post(t, b) for t, b in heads]
            await _until(lambda: _lock_waiters(owner) >= len(heads),
                         "each head waits in the database (a lane of its own starts at once)")
            later = [post(t, b) for t, b in rest]
            await _until(lambda: group.queued >= queued, "the rest is queued behind the heads")
            await asyncio.sleep(0.05)  # requests that go straight to their own call get there
            lock.rollback()
            return list(await asyncio.gather(*first)), list(await asyncio.gather(*later))


async def _until(check: Any, what: str, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(check):
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.01)


@pytest.fixture
def window(api: Api, db_url: str) -> Window:
    return Window(api, db_url)


def test_one_batch_answers_each_request_its_own_status(api: Api, window: Window, owner: Caller) -> None:
    token = api.user({"ex": "worker"})
    head, *good = _leased(owner, 9)
    lost = _leased(owner, 1, worker="w2")[0]           # leased by another worker: 409
    expired = _leased(owner, 1)[0]                      # this worker's lease ran out: 409
    expire_lease(owner, uuid.UUID(expired))
    older = _leased(owner, 1)[0]                        # attempt 2 named, 1 held: 409
    replay = _leased(owner, 1)[0]                       # completed by this worker already: 200
    owner.rpc("complete_job_v1", job_id=replay, worker_id="w", attempt=1)
    other = _leased(owner, 1, executor="other")[0]      # an executor it is no member of: 404
    unknown = str(uuid.uuid4())                         # no such job: 404
    seeds = _leased(owner, 1)[0]                        # the seeds' body: no workerId

    rest = [(token, _body(j, result={"n": i})) for i, j in enumerate(good)] + [
        (token, _body(lost)), (token, _body(expired)), (token, _body(older, attempt=2)),
        (token, _body(replay)), (token, _body(other)), (token, _body(unknown)),
        (token, {"jobId": seeds, "ok": True})]
    (first,), answers = window.run([(token, _body(head))], rest)

    assert first.status_code == 200
    statuses = {body["jobId"]: response for (_, body), response in zip(rest, answers)}
    for job_id in [*good, replay, seeds]:
        assert statuses[job_id].status_code == 200 and statuses[job_id].json() == {"ok": True}
    for job_id in (lost, expired, older):
        assert_error(statuses[job_id], 409, "lease_lost")
    for job_id in (other, unknown):
        assert_error(statuses[job_id], 404, "not_found")
    for i, job_id in enumerate(good):
        row = job(owner, uuid.UUID(job_id))
        assert (row["status"], row["result"]) == ("succeeded", {"n": i})
    assert job(owner, uuid.UUID(lost))["status"] == "running"
    assert job(owner, uuid.UUID(older))["status"] == "running"
    assert job(owner, uuid.UUID(other))["status"] == "running"
    # the queued completions left in one commit, after the head's own
    xacts = _xacts(owner, [head, *good, seeds])
    assert len({xacts[j] for j in good}) == 1 and xacts[head] != xacts[good[0]]


def test_callers_with_different_identities_never_share_a_batch(api: Api, window: Window,
                                                               owner: Caller) -> None:
    alice, bob = api.user({"ex": "worker"}), api.user({"ex": "worker"})
    carol = api.user({"ex": "client"})  # a member without the worker role: 403 for each
    jobs = _leased(owner, 16)
    (a_head, *a_rest), (b_head, *b_rest) = jobs[:8], jobs[8:]
    c_head, *c_rest = refused = _leased(owner, 3)
    rest = [pair for a, b in zip(a_rest, b_rest) for pair in ((alice, _body(a)), (bob, _body(b)))]
    rest += [(carol, _body(j)) for j in c_rest]
    heads, answers = window.run([(alice, _body(a_head)), (bob, _body(b_head)), (carol, _body(c_head))],
                                rest)

    # carol's completions queued behind her own call: in alice's or bob's batch they would pass
    assert [r.status_code for r in heads[:2] + answers[:-2]] == [200] * (2 + len(a_rest) + len(b_rest))
    for response in [heads[2], *answers[-2:]]:
        assert_error(response, 403, "forbidden")
    assert all(job(owner, uuid.UUID(j))["status"] == "running" for j in refused)
    xacts = _xacts(owner, jobs)
    alice_x, bob_x = {xacts[j] for j in a_rest}, {xacts[j] for j in b_rest}
    assert len(alice_x) == 1 and len(bob_x) == 1, "each caller's queued results are one batch"
    assert not alice_x & bob_x, "two callers' results were committed together"


def test_a_database_error_in_a_batch_answers_each_request_alone(api: Api, window: Window,
                                                                owner: Caller) -> None:
    owner.sql("""create function public.refuse_boom() returns trigger language plpgsql as $$
                 begin
                   if new.result @> '{"boom": true}' then
                     raise exception 'boom refused' using errcode = 'CL400';
                   end if;
                   return new;
                 end $$""")
    owner.sql("create trigger refuse_boom before update on collab.jobs for each row "
              "execute function public.refuse_boom()")
    token = api.user({"ex": "worker"})
    head, *good = _leased(owner, 7)
    boom = _leased(owner, 1)[0]
    rest = [(token, _body(j, result={"i": i})) for i, j in enumerate(good[:3])] + [
        (token, _body(boom, result={"boom": True}))] + [(token, _body(j)) for j in good[3:]]
    (first,), answers = window.run([(token, _body(head))], rest)

    statuses = {body["jobId"]: response for (_, body), response in zip(rest, answers)}
    assert first.status_code == 200
    assert all(statuses[j].status_code == 200 for j in good)
    assert_error(statuses[boom], 400, "invalid_input")
    assert job(owner, uuid.UUID(boom))["status"] == "running"
    assert all(job(owner, uuid.UUID(j))["status"] == "succeeded" for j in good)
    xacts = _xacts(owner, good)
    assert len(set(xacts.values())) == len(good), "the failed batch's jobs each committed alone"


def test_artifacts_fails_and_large_results_go_alone(api: Api, window: Window, owner: Caller) -> None:
    token = api.user({"ex": "worker"})
    head, big, with_artifact, failed, small_a, small_b = _leased(owner, 6)
    rest = [(token, _body(big, result={"x": "y" * 300_000})),
            (token, _body(with_artifact, artifact={"name": "o.txt", "path": f"ex/{with_artifact}/o.txt"})),
            (token, {**_body(failed), "ok": False, "error": "e", "retryable": False}),
            (token, _body(small_a)), (token, _body(small_b))]
    (first,), answers = window.run([(token, _body(head))], rest, queued=2)

    assert [r.status_code for r in [first, *answers]] == [200] * 6
    assert job(owner, uuid.UUID(failed))["status"] == "failed"
    xacts = _xacts(owner, [head, big, with_artifact, small_a, small_b])
    assert xacts[small_a] == xacts[small_b]
    assert len({xacts[head], xacts[big], xacts[with_artifact], xacts[small_a]}) == 4


def test_an_idle_lane_completes_alone_and_lanes_are_forgotten(api: Api, owner: Caller) -> None:
    token = api.user({"ex": "worker"})
    jobs = _leased(owner, 3)
    for j in jobs:
        assert api.post(RESULT, _body(j), token).json() == {"ok": True}
    assert len(set(_xacts(owner, jobs).values())) == 3
    assert api.runtime.group_commit.queued == 0 and api.runtime.group_commit.lanes == 0


def test_many_concurrent_clients_against_collab_serve(server: Server, owner: Caller, db_url: str) -> None:
    """32 threads, each with its own connection, complete 320 jobs (a tenth of them not
    held any more, unknown or another worker's) against a real ``collab serve``."""
    user = uuid.uuid4()
    add_members(owner, user, {"ex": "worker"})
    token = mint_token(SECRET, sub=str(user), executors={"ex": "worker"})
    good = _leased(owner, 290)
    lost = _leased(owner, 10, worker="w2")
    unknown = [str(uuid.uuid4()) for _ in range(10)]
    expired = _leased(owner, 10)
    for j in expired:
        expire_lease(owner, uuid.UUID(j))
    expected = {**dict.fromkeys(good, 200), **dict.fromkeys(lost + expired, 409), **dict.fromkeys(unknown, 404)}
    order = list(expected)
    answers: dict[str, httpx.Response] = {}
    start = threading.Barrier(32)

    def client(share: list[str]) -> None:
        with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            start.wait()
            for job_id in share:
                answers[job_id] = http.post(RESULT, content=json.dumps(_body(job_id)),
                                            headers={"Content-Type": "application/json"})

    threads = [threading.Thread(target=client, args=(order[i::32],)) for i in range(32)]
    with _locked(db_url, good[:1]):  # hold the first lane call a moment: a window for the rest
        for t in threads:
            t.start()
        wait_for(lambda: _lock_waiters(owner) >= 1, what="the first completion waits")
        time.sleep(0.3)  # the other clients' first results queue behind it
    for t in threads:
        t.join()

    assert {j: r.status_code for j, r in answers.items()} == expected
    for job_id in lost + expired:
        assert_error(answers[job_id], 409, "lease_lost")
    rows = owner.sql("select status, count(*) as n from collab.jobs where id = any(%s::uuid[]) group by 1",
                     (good,))
    assert {r["status"]: r["n"] for r in rows} == {"succeeded": 290}
    assert len(set(_xacts(owner, good).values())) < len(good) / 2, "the results were batched"


def test_a_batch_whose_connection_dies_answers_each_request_alone(api: Api, db_url: str,
                                                                  owner: Caller) -> None:
    """The batch's backend is terminated while it waits for a row lock: its requests each
    make their own call (nothing was committed), and each is answered by it."""
    token = api.user({"ex": "worker"})
    head, stuck, *good = _leased(owner, 8)
    lost = _leased(owner, 1, worker="w2")[0]
    rest = [stuck, *good, lost]

    async def scenario() -> list[httpx.Response]:
        group = api.runtime.group_commit
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.http.app), base_url="http://t",
                                     timeout=30) as http:
            def post(job_id: str) -> asyncio.Task[httpx.Response]:
                return asyncio.ensure_future(http.post(RESULT, json=_body(job_id), headers=api.bearer(token)))
            with _locked(db_url, [stuck]) as stuck_lock:
                with _locked(db_url, [head]):
                    first = post(head)
                    await _until(lambda: _lock_waiters(owner) >= 1, "the head waits")
                    later = [post(j) for j in rest]
                    await _until(lambda: group.queued >= len(rest), "the rest is queued")
                # the batch now waits for the stuck job's row: cut its connection
                await _until(lambda: _batch_backends(owner, terminate=False) == 1, "the batch waits")
                assert _batch_backends(owner, terminate=True) == 1
                await _until(lambda: group.lanes == 0, "every request went its own way")
                await asyncio.sleep(0.1)
                stuck_lock.rollback()
                return [await first, *await asyncio.gather(*later)]

    answers = dict(zip([head, *rest], api.run(scenario)))
    assert all(answers[j].status_code == 200 for j in [head, stuck, *good])
    assert_error(answers[lost], 409, "lease_lost")
    assert all(job(owner, uuid.UUID(j))["status"] == "succeeded" for j in [head, stuck, *good])
    assert len(set(_xacts(owner, [stuck, *good]).values())) == len(good) + 1, "each completed alone"


def _batch_backends(owner: Caller, *, terminate: bool) -> int:
    """Backends running a ``complete_jobs_v1`` call that waits for a lock (terminated
    with ``terminate``)."""
    action = "pg_terminate_backend(pid)" if terminate else "pid"
    return len(owner.sql(f"select {action} from pg_stat_activity where datname = current_database() "
                         "and wait_event_type = 'Lock' and query like '%%complete_jobs_v1%%'"))


def test_over_supabase_each_batch_carries_one_callers_token(db_url: str, owner: Caller,
                                                             storage: LocalStorage) -> None:
    """Over ``SupabaseTransport`` a caller is its forwarded token: each ``complete_jobs_v1``
    that PostgREST receives carries one user's token and only that user's completions."""
    alice, bob = uuid.uuid4(), uuid.uuid4()
    for user in (alice, bob):
        add_members(owner, user, {"ex": "worker"})
    tokens = {alice: mint_token(JWT_SECRET, sub=str(alice)), bob: mint_token(JWT_SECRET, sub=str(bob))}
    jobs = _leased(owner, 12)
    mine = {alice: jobs[:6], bob: jobs[6:]}
    with PostgrestServer(db_url) as postgrest:
        client = AsyncCollabClient(SupabaseTransport(postgrest.url, SECRET_KEY))
        runtime = Runtime(client, Authenticator(AuthConfig(mode="local", jwt_secret=JWT_SECRET,
                                                           api_key=API_KEY)), Settings(rate_limit=0))
        with serving(runtime) as http:
            window = Window(Api(http, runtime, owner, storage), db_url)
            heads = [(tokens[u], _body(mine[u][0])) for u in (alice, bob)]
            rest = [(tokens[u], _body(j)) for pair in zip(mine[alice][1:], mine[bob][1:])
                    for u, j in zip((alice, bob), pair)]
            first, answers = window.run(heads, rest)
        batches = postgrest.api.rpc_requests("complete_jobs_v1")

    assert [r.status_code for r in first + answers] == [200] * 12
    assert all(job(owner, uuid.UUID(j))["status"] == "succeeded" for j in jobs)
    assert len(batches) == 2
    for request in batches:
        sub = jwt.decode(request.headers["authorization"].removeprefix("Bearer "), JWT_SECRET,
                         algorithms=["HS256"], options={"verify_aud": False})["sub"]
        sent = {c["job_id"] for c in json.loads(request.content)["completions"]}
        assert sent == set(mine[uuid.UUID(sub)][1:])
