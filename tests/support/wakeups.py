"""A raw ``LISTEN collab_jobs`` session that waits for some executors' jobs, as a
worker's listener does (``collab.wait_for_jobs_v1``): the engine notifies an executor
only while a session waits for it."""

from __future__ import annotations

import psycopg

__all__ = ["waiting_listener", "waiting_sessions"]

#: The advisory-lock classid of the waiting lock (migration 20261206000000).
WAITING_LOCK_CLASS = 1668246640


def waiting_listener(db_url: str, *executors: str) -> psycopg.Connection:
    """An autocommit connection listening on ``collab_jobs`` and waiting for ``executors``
    (close it, or use it as a context manager)."""
    conn = psycopg.connect(db_url, autocommit=True)
    for executor in executors:
        assert conn.execute("select collab.wait_for_jobs_v1(%s)", (executor,)).fetchone() == (True,)
    conn.execute("listen collab_jobs")
    return conn


def waiting_sessions(db_url: str) -> int:
    """Sessions of the cluster holding a waiting lock (``collab.wait_for_jobs_v1``)."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute("select count(*) from pg_locks where locktype = 'advisory'"
                           " and classid = %s and granted", (WAITING_LOCK_CLASS,)).fetchone()
    return int(row[0]) if row else 0
