"""The ``collab`` command, on Click with Rich tables: ``main`` assembles the Click group
from one module per command group — ``db``, ``jobs`` (assign, jobs, job, stats, cancel,
retry, purge), ``dlq``, ``watch``, ``worker``, ``monitor`` (workers, metrics), ``members``,
``serve`` (serve, token), ``demo`` — each with a ``register(cli)``; ``base`` holds the
Click classes they share. ``connect`` resolves the database and the client for all of
them; ``output`` prints tables and JSON and maps SDK errors to
``collab_sdk.exits.ExitStatus``, the one exit-status enum of every command and the worker.
``python -m collab_sdk.cli`` runs it.

May import: everything else in collab_sdk. Nothing imports it.
"""

from collab_sdk.cli.main import main

__all__ = ["main"]
