"""OpenTelemetry (``collab_sdk.tracing``): one trace from the enqueuer's span to the
stored result, across a real worker, with opentelemetry-sdk's in-memory exporter in a
process of its own (a tracer provider is global: set here, it would trace every test);
and nothing recorded, nothing stored, while no provider is set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from collab_sdk import AsyncCollabClient, tracing
from collab_sdk.worker.loop import Worker
from support import eventually
from support.secret_capture import check_output

HERE = Path(__file__).resolve().parent


def _run_traced(db_url: str, *mode: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    out = subprocess.run([sys.executable, str(HERE / "tracing_app.py"), db_url, *mode], capture_output=True,
                         text=True, timeout=120, cwd=HERE)
    assert out.returncode == 0, out.stderr
    check_output(out.stderr, "tracing_app.py")
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    return lines[0]["jobs"], lines[1:]


def _chain(spans: list[dict[str, Any]], span: dict[str, Any]) -> list[str]:
    """The names from ``span`` up to its root, through its parents."""
    by_id = {s["span"]: s for s in spans}
    names = [span["name"]]
    while span["parent"] is not None and span["parent"] in by_id:
        span = by_id[span["parent"]]
        names.append(span["name"])
    return names


def _one(spans: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [s for s in spans if s["name"] == name]
    assert len(found) == 1, (name, [s["name"] for s in spans])
    return found[0]


def test_one_trace_from_enqueue_to_complete(db_url: str, owner: Any) -> None:
    jobs, spans = _run_traced(db_url)
    assert sorted(jobs.values()) == ["failed", "succeeded", "succeeded"]

    def chain(span: dict[str, Any]) -> list[str]:
        return _chain(spans, span)

    def one(name: str) -> dict[str, Any]:
        return _one(spans, name)

    ok_request = one("app.request")
    # the async handler's own span: handler <- job <- enqueue <- the application's span
    inside = one("app.inside.async")
    assert chain(inside) == ["app.inside.async", "collab.handler trace.ok", "collab.job trace.ok",
                             "collab.enqueue trace.ok", "app.request"]
    assert inside["trace"] == ok_request["trace"]
    ok_job = one("collab.job trace.ok")
    assert ok_job["kind"] == "CONSUMER" and ok_job["attributes"]["collab.outcome"] == "succeeded"
    assert ok_job["attributes"]["messaging.message.id"] in jobs
    under_ok = sorted(s["name"] for s in spans if s["parent"] == ok_job["span"])
    assert under_ok == ["collab.claim", "collab.complete", "collab.handler trace.ok"]
    claim, handler, complete = (next(s for s in spans if s["parent"] == ok_job["span"] and s["name"] == n)
                                for n in ("collab.claim", "collab.handler trace.ok", "collab.complete"))
    assert ok_job["start"] == claim["start"] <= claim["end"] <= handler["start"] <= handler["end"] \
        <= complete["start"] <= complete["end"] <= ok_job["end"]
    assert one("collab.enqueue trace.ok")["kind"] == "PRODUCER"
    assert {s["trace"] for s in spans if s["trace"] == ok_request["trace"]} == {ok_request["trace"]}
    assert len([s for s in spans if s["trace"] == ok_request["trace"]]) >= 9  # two jobs' trees

    # a failing handler: the exception is on the handler's span, the attempt is an error
    boom = one("collab.job trace.boom")
    assert boom["status"] == "ERROR" and boom["attributes"]["collab.outcome"] == "failed"
    assert chain(boom)[-2:] == ["collab.enqueue trace.boom", "app.request"]
    boom_handler = one("collab.handler trace.boom")
    assert boom_handler["status"] == "ERROR" and "exception" in boom_handler["events"]
    assert any(s["name"] == "collab.fail" and s["parent"] == boom["span"] for s in spans)

    # a batch enqueue, and a sync handler on its thread, stay in the same trace
    assert chain(one("app.inside.sync")) == ["app.inside.sync", "collab.handler trace.sync",
                                             "collab.job trace.sync", "collab.enqueue trace.sync",
                                             "app.batch"]
    # the context travelled in the column, never in the payload
    rows = owner.sql("select type, payload, trace_context from collab.jobs order by type")
    assert [r["type"] for r in rows] == ["trace.boom", "trace.ok", "trace.sync"]
    assert all(set(r["trace_context"]) == {"traceparent"} for r in rows)
    assert [r["payload"] for r in rows] == [{}, {"n": 1}, {}]
    traces = {r["trace_context"]["traceparent"].split("-")[1] for r in rows}
    assert traces == {ok_request["trace"], one("app.batch")["trace"]}


def test_one_trace_through_the_blocking_client(db_url: str, owner: Any) -> None:
    """``CollabClient`` runs each call on its own loop thread: the caller's current span
    must travel with the call, or every blocking enqueue would start a trace of its own."""
    jobs, spans = _run_traced(db_url, "blocking")
    assert sorted(jobs.values()) == ["succeeded", "succeeded"]
    root = _one(spans, "app.blocking")
    enqueue = _one(spans, "collab.enqueue trace.blocking")
    assert enqueue["parent"] == root["span"] and enqueue["kind"] == "PRODUCER"
    job = _one(spans, "collab.job trace.blocking")
    assert _chain(spans, job) == ["collab.job trace.blocking", "collab.enqueue trace.blocking", "app.blocking"]
    under = {s["name"]: s for s in spans if s["parent"] == job["span"]}
    assert set(under) == {"collab.claim", "collab.handler trace.blocking", "collab.complete"}, sorted(under)
    assert under["collab.claim"]["end"] <= under["collab.handler trace.blocking"]["start"] \
        <= under["collab.handler trace.blocking"]["end"] <= under["collab.complete"]["start"]
    # the sync handler enqueues through the same blocking client from its own thread
    assert _chain(spans, _one(spans, "collab.handler trace.followup")) == [
        "collab.handler trace.followup", "collab.job trace.followup", "collab.enqueue trace.followup",
        "app.inside.blocking", "collab.handler trace.blocking", "collab.job trace.blocking",
        "collab.enqueue trace.blocking", "app.blocking"]
    traced = [s for s in spans if s["name"].startswith(("collab.", "app."))]
    assert {s["trace"] for s in traced} == {root["trace"]}, "one trace, enqueue to complete"
    rows = owner.sql("select trace_context from collab.jobs")
    assert {r["trace_context"]["traceparent"].split("-")[1] for r in rows} == {root["trace"]}


async def test_without_a_tracer_provider_nothing_is_traced_or_stored(db_url: str, owner: Any,
                                                                   start_worker: Any) -> None:
    assert not tracing.active()  # opentelemetry-api is installed, but no provider is set
    with tracing.enqueue_span("t", "ex") as carried:
        assert carried is None
    async with AsyncCollabClient.from_url(db_url, max_size=2) as client:
        one = await client.assign("plain", executor_id="ex")
        many = await client.assign_many([{"type": "plain", "executor_id": "ex"}])

        def register(worker: Worker) -> None:
            @worker.task("plain")
            async def plain(job: Any, ctx: Any) -> int:
                return 1

        await start_worker(register)
        for job_id in (one.job_id, many[0].job_id):
            await eventually(lambda: _succeeded(client, job_id))
    rows = owner.sql("select trace_context from collab.jobs")
    assert [r["trace_context"] for r in rows] == [None, None]


async def _succeeded(client: AsyncCollabClient, job_id: Any) -> bool:
    return (await client.get_job(job_id)).status.value == "succeeded"
