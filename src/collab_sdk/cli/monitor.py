"""``collab workers`` and ``collab metrics``: who is working, and how the queue is doing
(``workers_active`` and ``metrics_overview``, what the dashboard reads)."""

from __future__ import annotations


import click

from collab_sdk.cli.base import command
from collab_sdk.cli.connect import client_options, with_client
from collab_sdk.cli.output import print_json, print_line, print_table
from collab_sdk.client.sync import CollabClient
from collab_sdk.exits import ExitStatus
from collab_sdk.models import MetricsOverview

__all__ = ["register", "cmd_workers", "cmd_metrics"]


def register(cli: click.Group) -> None:
    """Add ``collab workers`` and ``collab metrics``."""
    cli.add_command(cmd_workers)
    cli.add_command(cmd_metrics)


@command("workers", help="workers seen recently and not stopped")
@client_options
@click.option("--executor")
@click.option("--within", type=int, metavar="SECONDS", help="seen in the last SECONDS (default 20)")
@with_client
def cmd_workers(client: CollabClient, *, executor: str | None, within: int | None, as_json: bool) -> int:
    """The active workers: id, executor, status, running/capacity, version, last seen."""
    found = client.workers_active(executor_id=executor, within_seconds=within)
    if as_json:
        print_json(found)
    else:
        print_table(("WORKER", "EXECUTOR", "STATUS", "RUNNING", "VERSION", "STARTED", "LAST SEEN"), [
            [w.worker_id, w.executor_id, w.status, f"{w.running}/{w.capacity}", w.version,
             w.started_at.strftime("%Y-%m-%d %H:%M:%S") if w.started_at else None,
             w.last_seen_at.strftime("%Y-%m-%d %H:%M:%S")] for w in found])
    return ExitStatus.OK


@command("metrics", help="counts by status and type, throughput, latency percentiles, DLQ, workers")
@client_options
@click.option("--executor")
@with_client
def cmd_metrics(client: CollabClient, *, executor: str | None, as_json: bool) -> int:
    """The metrics overview, as JSON or as a few tables."""
    overview = client.metrics(executor_id=executor)
    if as_json:
        print_json(overview)
    else:
        _print_overview(overview)
    return ExitStatus.OK


def _print_overview(overview: MetricsOverview) -> None:
    statuses = ("queued", "running", "succeeded", "failed", "cancelled", "total")
    print_table([s.upper() for s in statuses], [[getattr(overview.by_status, s) for s in statuses]])
    if overview.by_type:
        print_line("")
        print_table(["TYPE", *(s.upper() for s in statuses[:-1])],
                    [[name, *(counts.get(s, 0) for s in statuses[:-1])]
                     for name, counts in sorted(overview.by_type.items())])
    print_line("")
    finished = overview.finished.model_dump()
    print_table(["FINISHED", *(k.upper() for k in finished)], [["", *finished.values()]])
    print_line("")
    wait, run = overview.queue_wait_ms.model_dump(), overview.run_time_ms.model_dump()
    print_table(["MS", *(k.upper() for k in wait)], [["queue wait", *wait.values()], ["run time", *run.values()]])
    print_line("")
    print_line(f"dead letters: {overview.dlq.size} open, {overview.dlq.total} in all; "
               f"active workers: {overview.active_workers}; at {overview.generated_at:%Y-%m-%d %H:%M:%S}")
