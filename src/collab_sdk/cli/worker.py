"""``collab worker module:attr``: load a ``Worker`` by name and run it until SIGTERM or
SIGINT; the command exits with ``Worker.run``'s status (``collab_sdk.exits.ExitStatus``)."""

from __future__ import annotations

import importlib
import os
import sys

import click

from collab_sdk.cli.base import Choice, command
from collab_sdk.errors import ValidationError
from collab_sdk.logs import LOG_FORMATS, configure_logging
from collab_sdk.worker.loop import Worker

__all__ = ["register", "cmd_worker", "load_worker"]


def register(cli: click.Group) -> None:
    """Add ``collab worker``."""
    cli.add_command(cmd_worker)


def load_worker(spec: str) -> Worker:
    """``module:attribute`` → the ``Worker`` it names (or a callable returning one)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValidationError(f"worker must be given as module:attribute, not {spec!r}", code="CL400")
    sys.path.insert(0, os.getcwd())
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValidationError(f"cannot load {spec}: {exc}", code="CL400") from exc
    worker = target() if callable(target) and not isinstance(target, Worker) else target
    if not isinstance(worker, Worker):
        raise ValidationError(f"{spec} is a {type(worker).__name__}, not a collab Worker", code="CL400")
    return worker


@command("worker", help="run a worker (module:attribute naming a Worker)")
@click.argument("worker", metavar="MODULE:WORKER")
@click.option("--concurrency", type=int)
@click.option("--log-level", default="info", envvar="COLLAB_LOG_LEVEL", show_envvar=True,
              type=Choice(["debug", "info", "warning", "error"]))
@click.option("--log-format", default=None, envvar="COLLAB_LOG_FORMAT", show_envvar=True,
              type=Choice(list(LOG_FORMATS)), help="key=value text (default) or JSON lines")
@click.option("--metrics-port", type=int, envvar="COLLAB_METRICS_PORT", show_envvar=True,
              help="serve Prometheus metrics on this port (0: any free port, logged)")
@click.option("--metrics-host", default="0.0.0.0", show_default=True, help="the metrics address")
def cmd_worker(worker: str, concurrency: int | None, log_level: str, log_format: str | None,
               metrics_port: int | None, metrics_host: str) -> int:
    """Run a worker until SIGTERM/SIGINT; its exit status (see ``Worker.run``)."""
    configure_logging(log_level, log_format, force=True)
    loaded = load_worker(worker)
    if concurrency:
        loaded.concurrency = concurrency
    if metrics_port is not None:
        loaded.metrics_port, loaded.metrics_host = metrics_port, metrics_host
    return int(loaded.run())
