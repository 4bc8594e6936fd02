"""``collab runs list|show|watch|resume|cancel|retry``: workflow runs. ``watch`` prints a
run's events (its log, then live) until it ends: exit 0 succeeded, 1 failed or
cancelled, 124 when ``--timeout`` passed first."""

from __future__ import annotations

import json

import click

from collab_sdk.cli.base import group
from collab_sdk.cli.connect import client_options, with_client
from collab_sdk.cli.output import STYLES, print_json, print_line, print_table
from collab_sdk.cli.watch import run_on_loop
from collab_sdk.cli.workflows import read_json
from collab_sdk.client.sync import CollabClient
from collab_sdk.errors import ValidationError
from collab_sdk.exits import ExitStatus
from collab_sdk.models import JobEvent
from collab_sdk.workflows.models import Run

__all__ = ["register", "runs", "cmd_list", "cmd_show", "cmd_watch", "cmd_resume", "cmd_cancel",
           "cmd_retry", "format_run_event"]

_RUN_STATUSES = ["pending", "running", "paused", "succeeded", "failed", "cancelled"]


@group("runs", help="workflow runs: list, show, watch, resume, cancel, retry")
def runs() -> None:
    """``collab runs``."""


def register(cli: click.Group) -> None:
    """Add ``collab runs``."""
    cli.add_command(runs)


def _print_run(run: Run, as_json: bool) -> None:
    print_json(run) if as_json else print_line(f"{run.id}  {run.status}", STYLES.get(run.status))


def format_run_event(event: JobEvent) -> str:
    """One line per run event: time, seq, event, step and detail."""
    payload = {k: v for k, v in event.payload.items() if k not in ("run_id", "workflow_id")}
    step = payload.pop("step_id", "")
    detail = json.dumps(payload, separators=(",", ":"))
    return f"{event.created_at:%H:%M:%S.%f}"[:-3] + f"  #{event.seq:<7} {event.event_type:<16} {step:<16} {detail[:100]}"


@runs.command("list", help="runs, newest first")
@client_options
@click.option("--workflow", "workflow_id")
@click.option("--executor")
@click.option("--status", type=click.Choice(_RUN_STATUSES))
@click.option("--limit", type=int, default=20, show_default=True)
@with_client
def cmd_list(client: CollabClient, *, workflow_id: str | None, executor: str | None, status: str | None,
             limit: int, as_json: bool) -> int:
    """Runs, newest first."""
    page = client.workflows.list_runs(workflow_id=workflow_id, executor_id=executor, status=status,
                                      page_size=limit)
    if as_json:
        print_json(page)
    else:
        print_table(("ID", "WORKFLOW", "STATUS", "TRIGGER", "CREATED", "ERROR"),
                    [[r.id, r.workflow_id, r.status, r.trigger_type, f"{r.created_at:%Y-%m-%d %H:%M:%S}",
                      (r.error or "")[:60]] for r in page.items])
    return ExitStatus.OK


@runs.command("show", help="a run with its steps")
@client_options
@click.argument("run_id")
@with_client
def cmd_show(client: CollabClient, *, run_id: str, as_json: bool) -> int:
    """The run, then each step's status, attempts and error."""
    snapshot = client.workflows.snapshot(run_id)
    if as_json:
        print_json(snapshot)
        return ExitStatus.OK
    run = snapshot.run
    print_line(f"{run.id}  {run.status}  workflow {run.workflow_id} v{run.workflow_version}  ({run.trigger_type})",
               STYLES.get(run.status))
    if run.error:
        print_line(f"error: {run.error}", "red")
    print_table(("STEP", "TYPE", "STATUS", "ATTEMPTS", "JOB", "ERROR"),
                [[s.step_id, s.type, s.status, s.attempts, s.job_id or "", (s.error or "")[:60]]
                 for s in snapshot.steps])
    return ExitStatus.OK


@runs.command("watch", help="a run's events (its log, then live) until it ends: exit 0 succeeded, "
                            "1 failed or cancelled, 124 --timeout passed")
@client_options
@click.argument("run_id")
@click.option("--since", type=int, default=0, help="only events after this seq")
@click.option("--timeout", type=float, help="give up after this many seconds")
@with_client
def cmd_watch(client: CollabClient, *, run_id: str, since: int, timeout: float | None, as_json: bool) -> int:
    """Print the run's events until it ends."""
    client.workflows.get_run(run_id)  # NotFound (exit 3) before anything is printed

    async def consume() -> None:
        async for event in client.aio.workflows.watch_run(run_id, since_seq=since):
            if as_json:
                print_line(event.model_dump_json(by_alias=True))
            else:
                print_line(format_run_event(event), STYLES.get(event.event_type.removeprefix("run_")))

    if not run_on_loop(client, consume(), timeout):
        return ExitStatus.TIMEOUT
    return ExitStatus.OK if client.workflows.get_run(run_id).status == "succeeded" else ExitStatus.ERROR


@runs.command("resume", help="succeed a waiting approval step with data and continue the run")
@client_options
@click.argument("run_id")
@click.argument("step_id")
@click.option("--data", "data_text", default="{}", help="the step's output: JSON, @file or a path")
@with_client
def cmd_resume(client: CollabClient, *, run_id: str, step_id: str, data_text: str, as_json: bool) -> int:
    """Resume a paused run (exit 4 when the step is not waiting)."""
    data = read_json(data_text, "--data")
    if not isinstance(data, dict):
        raise ValidationError("--data must be a JSON object", code="CL400")
    _print_run(client.workflows.resume(run_id, step_id, data), as_json)
    return ExitStatus.OK


@runs.command("cancel", help="cancel a pending, running or paused run")
@client_options
@click.argument("run_id")
@click.option("--reason", default=None)
@with_client
def cmd_cancel(client: CollabClient, *, run_id: str, reason: str | None, as_json: bool) -> int:
    """Cancel (exit 4 when the run already ended)."""
    _print_run(client.workflows.cancel(run_id, reason=reason), as_json)
    return ExitStatus.OK


@runs.command("retry", help="run a failed run again from its failed steps")
@client_options
@click.argument("run_id")
@with_client
def cmd_retry(client: CollabClient, *, run_id: str, as_json: bool) -> int:
    """Retry (exit 4 unless the run failed)."""
    _print_run(client.workflows.retry(run_id), as_json)
    return ExitStatus.OK
