"""Test support shared by every test package: callers acting as roles (``callers``), job
helpers for SQL-level tests (``jobs``), schema fingerprints and the snapshot
(``schema``, ``schema_snapshot``), ``eventually`` (``waiting``) and a raw worker-like
LISTEN session (``wakeups``)."""

from pathlib import Path

from support.concurrency import in_threads
from support.callers import Caller, add_members, database_url, raises_sqlstate, rpc_query
from support.jobs import assign, assign_one_by_one, claim, events, expire_lease, job, make_due
from support.schema import empty_database, migration_history, schema_fingerprint
from support.waiting import eventually
from support.wakeups import waiting_listener, waiting_sessions

#: The repository root (tests read its files: sql/, functions/, docs/).
REPO = Path(__file__).resolve().parents[2]

__all__ = ["REPO", "Caller", "add_members", "database_url", "raises_sqlstate", "rpc_query",
           "assign", "assign_one_by_one", "claim", "events", "expire_lease", "job", "make_due",
           "empty_database", "migration_history", "schema_fingerprint", "eventually", "in_threads",
           "waiting_listener", "waiting_sessions"]
