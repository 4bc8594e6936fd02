"""Triggers: the cron parser, schedules fired by many callers at once, missed and disabled
ticks, pg_cron on PostgreSQL 15, and signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import pytest

from support import Caller
from support.pg_cron import PgCron, pg_cron_case
from workflow_support import DIAMOND, in_threads, published, sqlstate


def _next(caller: Caller, cron: str, after: str, tz: str = "UTC") -> str:
    value = caller.value("cron_next_v1", cron=cron, timezone=tz, after=datetime.fromisoformat(after))
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


@pytest.mark.parametrize("cron, after, tz, expected", [
    ("* * * * *", "2026-01-01T10:00:30+00:00", "UTC", "2026-01-01T10:01Z"),
    ("*/15 * * * *", "2026-01-01T10:01:00+00:00", "UTC", "2026-01-01T10:15Z"),
    ("0 9 * * 1-5", "2026-01-02T09:00:00+00:00", "UTC", "2026-01-05T09:00Z"),  # Friday -> Monday
    ("0 9 * * mon-fri", "2026-01-02T09:00:00+00:00", "UTC", "2026-01-05T09:00Z"),
    ("30 2 1 * *", "2026-01-15T00:00:00+00:00", "UTC", "2026-02-01T02:30Z"),
    ("0 0 29 2 *", "2026-03-01T00:00:00+00:00", "UTC", "2028-02-29T00:00Z"),
    ("5,10-12/2 3 * jan,jul *", "2026-02-01T00:00:00+00:00", "UTC", "2026-07-01T03:05Z"),
    ("0 0 13 * 5", "2026-02-01T00:00:00+00:00", "UTC", "2026-02-06T00:00Z"),  # day 13 OR a Friday
    ("0 0 * * 7", "2026-01-01T00:00:00+00:00", "UTC", "2026-01-04T00:00Z"),  # 7 is Sunday
    ("0 9 * * *", "2026-01-01T12:00:00+00:00", "Europe/Berlin", "2026-01-02T08:00Z"),
    ("0 9 * * *", "2026-07-01T12:00:00+00:00", "Europe/Berlin", "2026-07-02T07:00Z"),
    ("30 2 * * *", "2026-03-29T00:00:00+00:00", "Europe/Berlin", "2026-03-29T01:30Z"),  # 02:30 skipped: 03:30
    ("10/20 * * * *", "2026-01-01T00:31:00+00:00", "UTC", "2026-01-01T00:50Z"),
])
def test_cron_next(owner: Caller, cron: str, after: str, tz: str, expected: str) -> None:
    assert _next(owner, cron, after, tz) == expected


@pytest.mark.parametrize("cron, message", [
    ("* * * *", "cron must have 5 fields"),
    ("60 * * * *", "cron minute field: '60' is outside 0-59"),
    ("* 24 * * *", "cron hour field: '24' is outside 0-23"),
    ("* * 0 * *", "cron day-of-month field: '0' is outside 1-31"),
    ("* * * foo *", "cron month field: 'foo' is not a number or a name"),
    ("*/0 * * * *", "cron minute field: bad step in '*/0'"),
    ("5-1 * * * *", "cron minute field: '5-1' is outside 0-59"),
    ("0 0 31 2 *", "never fires"),
])
def test_cron_errors(owner: Caller, cron: str, message: str) -> None:
    with sqlstate("CL400", message):
        owner.rpc("cron_next_v1", cron=cron)


def test_unknown_time_zone(owner: Caller) -> None:
    with sqlstate("CL400", "timezone 'Mars/Base' is not a known time zone"):
        owner.rpc("cron_next_v1", cron="* * * * *", timezone="Mars/Base")


def _due_schedule(owner: Caller, **kw: Any) -> dict[str, Any]:
    wf = published(owner, DIAMOND)
    s = owner.one("create_schedule_v1", workflow_id=wf["id"], cron="*/5 * * * *", input={"from": "cron"}, **kw)
    owner.sql("update collab.workflow_schedules set next_fire_at = date_trunc('minute', now()) - interval '1 minute'"
              " where id = %s", (s["id"],))
    return owner.sql("select * from collab.workflow_schedules where id = %s", (s["id"],))[0]


def test_many_concurrent_callers_fire_one_run_per_tick(owner: Caller, db_url: str) -> None:
    s = _due_schedule(owner)

    def fire(i: int) -> list[dict[str, Any]]:
        me = Caller(db_url, role="service_role") if i % 2 else Caller(db_url)
        try:
            return me.rpc("fire_due_schedules_v1", executor_id="ex" if i % 3 == 0 else None)
        finally:
            me.close()

    fired = [row for rows in in_threads(12, fire) for row in rows]
    runs = owner.sql("select * from collab.workflow_runs")
    assert len(runs) == 1 and runs[0]["trigger_type"] == "schedule" and runs[0]["input"] == {"from": "cron"}
    assert runs[0]["schedule_id"] == s["id"]
    tick = s["next_fire_at"].astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    assert runs[0]["idempotency_key"] == f"schedule:{s['id']}:{tick}"
    assert Counter(r["created"] for r in fired)[True] == 1
    after = owner.sql("select * from collab.workflow_schedules where id = %s", (s["id"],))[0]
    assert after["last_fired_at"] == s["next_fire_at"] and after["last_run_id"] == runs[0]["id"]
    assert after["next_fire_at"] > owner.sql("select now() as t")[0]["t"]
    assert owner.rpc("fire_due_schedules_v1") == []  # nothing is due any more


def test_missed_ticks_fire_once(owner: Caller) -> None:
    s = _due_schedule(owner)
    owner.sql("update collab.workflow_schedules set next_fire_at = now() - interval '3 hours' where id = %s",
              (s["id"],))  # 36 ticks of */5 missed
    assert len(owner.rpc("fire_due_schedules_v1")) == 1
    assert owner.rpc("fire_due_schedules_v1") == []
    assert owner.sql("select count(*) as n from collab.workflow_runs")[0]["n"] == 1


def test_a_disabled_schedule_never_fires(owner: Caller) -> None:
    s = _due_schedule(owner, enabled=False)
    assert owner.rpc("fire_due_schedules_v1") == []
    assert owner.sql("select count(*) as n from collab.workflow_runs")[0]["n"] == 0
    enabled = owner.one("update_schedule_v1", schedule_id=s["id"], enabled=True)
    assert enabled["enabled"] and enabled["next_fire_at"] > s["next_fire_at"]


def test_schedules_of_an_unpublished_workflow_do_not_start_runs(owner: Caller) -> None:
    s = _due_schedule(owner)
    owner.rpc("archive_workflow_v1", workflow_id=s["workflow_id"])
    [fired] = owner.rpc("fire_due_schedules_v1")
    assert fired["run_id"] is None and fired["created"] is False
    row = owner.sql("select * from collab.workflow_schedules where id = %s", (s["id"],))[0]
    assert "is archived: no run started" in row["last_error"]
    assert owner.sql("select count(*) as n from collab.workflow_runs")[0]["n"] == 0


def test_fire_needs_an_executor_for_users(make_user) -> None:
    worker = make_user({"ex": "worker"})
    with sqlstate("CL403", "pass executor_id"):
        worker.rpc("fire_due_schedules_v1")
    assert worker.rpc("fire_due_schedules_v1", executor_id="ex") == []
    with sqlstate("CL403", "not allowed"):
        worker.rpc("fire_due_schedules_v1", executor_id="other")


def test_schedule_input_is_checked(owner: Caller) -> None:
    wf = published(owner, DIAMOND, input_schema={"required": ["x"]})
    with sqlstate("CL400", 'input: "x" is required'):
        owner.rpc("create_schedule_v1", workflow_id=wf["id"], cron="* * * * *")
    with sqlstate("CL400", "cron hour field"):
        owner.rpc("create_schedule_v1", workflow_id=wf["id"], cron="0 99 * * *", input={"x": 1})
    s = owner.one("create_schedule_v1", workflow_id=wf["id"], cron="0 * * * *", input={"x": 1})
    assert [x["id"] for x in owner.rpc("schedules_v1", workflow_id=wf["id"])] == [s["id"]]
    assert owner.one("delete_schedule_v1", schedule_id=s["id"])["id"] == s["id"]
    assert owner.rpc("schedules_v1", workflow_id=wf["id"]) == []


def _cron_schedule_case(owner: Caller) -> dict[str, Any]:
    """pg_cron's job installed again (replaced, not added), then a schedule due now that
    fires once only (at most one run whenever the test looks)."""
    jobs = owner.sql("select count(*) as n from cron.job")[0]["n"]
    reinstalled = owner.value("install_cron_v1")
    again = owner.sql("select count(*) as n from cron.job")[0]["n"]
    wf = published(owner, DIAMOND)
    s = owner.one("create_schedule_v1", workflow_id=wf["id"], cron="0 0 1 1 *", input={"from": "cron"})
    owner.sql("update collab.workflow_schedules set next_fire_at = date_trunc('minute', now()) - interval '1 minute'"
              " where id = %s", (s["id"],))
    return {"schedule_id": s["id"], "reinstalled": reinstalled, "jobs": (jobs, again)}


pg_cron_case("schedules", _cron_schedule_case)


@pytest.mark.slow  # run alone, it waits for pg_cron's next minute boundary
def test_pg_cron_on_postgresql_15_fires_due_schedules(pg_cron: PgCron) -> None:
    # The case is set up when collection ends (support.pg_cron): the schedules migration
    # found pg_cron and installed the job.
    assert pg_cron.migrated_jobs == [{"jobname": "collab-fire-due-schedules", "schedule": "* * * * *",
                                      "command": "select collab.fire_due_schedules_v1()"}]
    case = pg_cron.cases["schedules"]
    assert case["reinstalled"] is not None
    jobs, again = case["jobs"]
    assert again == jobs
    owner = Caller(pg_cron.url)
    try:
        deadline = time.monotonic() + 130  # pg_cron 1.4 runs jobs on minute boundaries
        while time.monotonic() < deadline:
            runs = owner.sql("select * from collab.workflow_runs where schedule_id = %s", (case["schedule_id"],))
            if runs:
                break
            time.sleep(1)
        assert len(runs) == 1 and runs[0]["trigger_type"] == "schedule" and runs[0]["input"] == {"from": "cron"}
    finally:
        owner.close()


# Webhooks ------------------------------------------------------------------------

def _sign(secret: str, body: str) -> str:
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def hook(owner: Caller) -> dict[str, Any]:
    wf = published(owner, DIAMOND)
    secret = owner.value("create_webhook_secret_v1", workflow_id=wf["id"])
    return {"workflow": wf, **secret}


def test_webhook_secret_is_shown_once_and_unreadable(owner: Caller, service: Caller, make_user,
                                                    hook: dict[str, Any]) -> None:
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) == 6 + 64
    info = owner.value("webhook_secret_info_v1", workflow_id=hook["workflow"]["id"])
    assert info["fingerprint"] == hashlib.sha256(hook["secret"].encode()).hexdigest()[:16]
    assert "secret" not in info
    member = make_user({"ex": "admin"})
    for caller in (service, member):
        with sqlstate("42501", "permission denied"):
            caller.sql("select * from collab.workflow_webhook_secrets")
    rotated = owner.value("create_webhook_secret_v1", workflow_id=hook["workflow"]["id"])
    assert rotated["secret"] != hook["secret"]


def test_hmac_in_sql_matches_python(owner: Caller) -> None:
    for key, msg in [(b"k", b""), (b"x" * 64, b"hello"), (b"y" * 100, "\u00e9t\u00e9".encode())]:
        got = owner.sql("select collab._hmac_sha256(%s, %s) as h", (key, msg))[0]["h"]
        assert bytes(got) == hmac.new(key, msg, hashlib.sha256).digest()


def test_good_signature_starts_a_run_and_a_redelivery_returns_it(service: Caller, hook: dict[str, Any]) -> None:
    body = json.dumps({"event": "push", "n": 1})
    first = service.value("webhook_start_run_v1", workflow_id=hook["workflow"]["id"], body=body,
                          signature="sha256=" + _sign(hook["secret"], body), delivery_id="d-1")
    assert first["created"] is True
    assert (first["run"]["trigger_type"], first["run"]["input"], first["run"]["idempotency_key"]) == \
        ("webhook", {"event": "push", "n": 1}, "webhook:d-1")
    again = service.value("webhook_start_run_v1", workflow_id=hook["workflow"]["id"], body=body,
                          signature=_sign(hook["secret"], body).upper(), delivery_id="d-1")
    assert (again["created"], again["run"]["id"]) == (False, first["run"]["id"])
    wrapped = service.value("webhook_start_run_v1", workflow_id=hook["workflow"]["id"], body="[1]",
                            signature=_sign(hook["secret"], "[1]"), delivery_id="d-2")
    assert wrapped["run"]["input"] == {"body": [1]}


@pytest.mark.parametrize("signature, message", [
    (None, "missing webhook signature"),
    ("", "missing webhook signature"),
    ("abc", "malformed webhook signature"),
    ("0" * 64, "webhook signature does not match the body"),
])
def test_bad_or_missing_signature_is_refused(service: Caller, owner: Caller, hook: dict[str, Any],
                                             signature: str | None, message: str) -> None:
    with sqlstate("CL403", message):
        service.rpc("webhook_start_run_v1", workflow_id=hook["workflow"]["id"], body='{"a": 1}',
                    signature=signature, delivery_id="d")
    assert owner.sql("select count(*) as n from collab.workflow_runs")[0]["n"] == 0


def test_signature_of_another_body_is_refused(service: Caller, owner: Caller, hook: dict[str, Any]) -> None:
    with sqlstate("CL403", "does not match"):
        service.rpc("webhook_start_run_v1", workflow_id=hook["workflow"]["id"], body='{"a": 2}',
                    signature=_sign(hook["secret"], '{"a": 1}'))
    owner.rpc("delete_webhook_secret_v1", workflow_id=hook["workflow"]["id"])
    with sqlstate("CL404", "no webhook for workflow"):
        service.rpc("webhook_start_run_v1", workflow_id=hook["workflow"]["id"], body='{"a": 1}',
                    signature=_sign(hook["secret"], '{"a": 1}'))
    assert owner.sql("select count(*) as n from collab.workflow_runs")[0]["n"] == 0
