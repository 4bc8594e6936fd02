"""Database faults a test can switch on and off: a read-only database, and serialization
failures / deadlocks raised by the first calls.

``read_only(url)``: ``default_transaction_read_only = on`` by ``ALTER SYSTEM`` and a
configuration reload — what the issue's adversarial run did, and what Supabase does for
maintenance or a full disk: every session, the ones already open included, gets SQLSTATE
25006 at its next write, while reads go on. ``terminate=True`` also ends every other
session of the database, as a failover does, so the pools reconnect into the read-only
server. It is cluster-wide (no per-database setting reaches open sessions), so it is
always switched back off, and the suite runs tests one at a time.

``inject_transient(url, count)``: a statement trigger on ``collab.jobs`` that raises 40001
and 40P01 in turn for the first ``count`` statements of the kinds given (a sequence
counts them: a raise rolls back everything else). The trigger goes with the test's
database.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

__all__ = ["read_only", "set_read_only", "inject_transient", "injected"]


def set_read_only(url: str, on: bool) -> None:
    """Turn the server's ``default_transaction_read_only`` on or off and wait until a new
    session sees it (existing ones see it at their next statement)."""
    with psycopg.connect(url, autocommit=True) as conn:
        if on:
            conn.execute("alter system set default_transaction_read_only = on")
        else:
            conn.execute("alter system reset default_transaction_read_only")
        conn.execute("select pg_reload_conf()")
    want, deadline = "on" if on else "off", time.monotonic() + 10
    while True:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("show default_transaction_read_only").fetchone()
        if row and row[0] == want:
            break
        assert time.monotonic() < deadline, "the configuration reload was not seen"
        time.sleep(0.02)
    time.sleep(0.1)  # every open session has had its reload signal by now


@contextmanager
def read_only(url: str, *, terminate: bool = False) -> Iterator[None]:
    """The database server is read-only inside the block (see the module doc)."""
    set_read_only(url, True)
    try:
        if terminate:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                             "where datname = current_database() and pid <> pg_backend_pid()")
        yield
    finally:
        set_read_only(url, False)


def inject_transient(url: str, count: int, *, on: str = "update") -> None:
    """The first ``count`` ``on`` statements (``update``, ``insert``, ``insert or update``)
    on ``collab.jobs`` raise 40001, then 40P01, in turn (see the module doc)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create sequence if not exists public.injected_faults")
        conn.execute(f"""
            create or replace function public.inject_transient() returns trigger
            language plpgsql as $$
            declare n bigint := nextval('public.injected_faults');
            begin
              if n <= {int(count)} then
                if n % 2 = 1 then
                  raise exception 'injected serialization failure %', n using errcode = '40001';
                end if;
                raise exception 'injected deadlock %', n using errcode = '40P01';
              end if;
              return null;
            end $$""")
        conn.execute("drop trigger if exists inject_transient on collab.jobs")
        conn.execute(f"create trigger inject_transient before {on} on collab.jobs "
                     "for each statement execute function public.inject_transient()")


def injected(url: str) -> int:
    """How many statements have passed the trigger so far (those raising included)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("select case when is_called then last_value else 0 end "
                           "from public.injected_faults").fetchone()
    return int(row[0]) if row else 0
