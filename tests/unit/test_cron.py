"""Cron ticks of ``Worker.periodic`` (``collab_sdk.worker.cron``): what the hand-written
UTC parser did (pinned), then names, macros, time zones and both DST transitions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from collab_sdk.errors import ValidationError
from collab_sdk.worker.cron import Cron
from collab_sdk.worker.periodic import tick_key

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ticks(cron: Cron, start: datetime, n: int) -> list[datetime]:
    out, t = [], start
    for _ in range(n):
        t = cron.next_after(t)
        out.append(t)
    return out


# -- what the UTC-only parser did -------------------------------------------------------

@pytest.mark.parametrize(("expression", "start", "expected"), [
    ("0 * * * *", utc(2026, 11, 23, 3, 0), [utc(2026, 11, 23, 4, 0), utc(2026, 11, 23, 5, 0)]),
    ("*/15 * * * *", utc(2026, 11, 23, 3, 7, 30), [utc(2026, 11, 23, 3, 15), utc(2026, 11, 23, 3, 30)]),
    ("5-7 0 * * *", utc(2026, 11, 23, 0, 5), [utc(2026, 11, 23, 0, 6), utc(2026, 11, 23, 0, 7)]),
    ("0 9,17 * * *", utc(2026, 11, 23, 10, 0), [utc(2026, 11, 23, 17, 0), utc(2026, 11, 24, 9, 0)]),
    ("10/20 * * * *", utc(2026, 11, 23, 3, 0), [utc(2026, 11, 23, 3, 10), utc(2026, 11, 23, 3, 30)]),
    # both day fields restricted: either matches (the 1st, or a Monday)
    ("0 0 1 * 1", utc(2026, 11, 23, 12, 0), [utc(2026, 11, 30, 0, 0), utc(2026, 12, 1, 0, 0)]),
    # one day field restricted: only it counts
    ("0 0 * * 0", utc(2026, 11, 23, 12, 0), [utc(2026, 11, 29, 0, 0)]),
    ("0 0 * * 7", utc(2026, 11, 23, 12, 0), [utc(2026, 11, 29, 0, 0)]),  # 7 is Sunday too
    ("0 0 29 2 *", utc(2026, 3, 1, 0, 0), [utc(2028, 2, 29, 0, 0)]),  # leap days
])
def test_ticks_as_the_utc_parser_gave_them(expression: str, start: datetime, expected: list[datetime]) -> None:
    got = ticks(Cron(expression), start, len(expected))
    assert got == expected and all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in got)


def test_next_after_is_strictly_after_and_drops_seconds() -> None:
    cron = Cron("* * * * *")
    assert cron.next_after(utc(2026, 1, 1, 0, 0)) == utc(2026, 1, 1, 0, 1)
    assert cron.next_after(utc(2026, 1, 1, 0, 0, 59, 999)) == utc(2026, 1, 1, 0, 1)
    # an aware time in another zone is the same instant
    assert cron.next_after(datetime(2026, 1, 1, 1, 0, tzinfo=PARIS)) == utc(2026, 1, 1, 0, 1)


def test_matches_is_the_minute_of_a_tick() -> None:
    cron = Cron("30 2 * * 1-5")
    assert cron.matches(utc(2026, 11, 23, 2, 30, 45))  # a Monday
    assert not cron.matches(utc(2026, 11, 22, 2, 30))  # a Sunday
    assert not cron.matches(utc(2026, 11, 23, 2, 31))


@pytest.mark.parametrize("expression", [
    "* * * *", "* * * * * *", "", "61 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
    "* * * * 8", "*/0 * * * *", "x * * * *", "1.5 * * * *", "@reboot", "@often",
    "0 0 30 2 *",  # never fires: refused when parsed, not at the first tick
])
def test_a_malformed_expression_is_a_validation_error(expression: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Cron(expression)
    assert caught.value.code == "CL400" and repr(expression) in str(caught.value)


# -- names, macros, wrapping ranges, time zones ----------------------------------------

def test_a_reversed_range_wraps_around() -> None:
    # the hand-written parser refused "22-2"; croniter reads it as 22, 23, 0, 1, 2
    assert [t.hour for t in ticks(Cron("0 22-2 * * *"), utc(2026, 1, 1, 12), 6)] == [22, 23, 0, 1, 2, 22]
    assert [t.strftime("%a") for t in ticks(Cron("0 0 * * fri-mon"), utc(2026, 1, 1, 12), 5)] == [
        "Fri", "Sat", "Sun", "Mon", "Fri"]


def test_month_and_weekday_names() -> None:
    assert ticks(Cron("0 8 * jan,JUL mon-fri"), utc(2026, 1, 30, 9, 0), 2) == [
        utc(2026, 7, 1, 8, 0), utc(2026, 7, 2, 8, 0)]
    assert Cron("0 0 * * sun").next_after(utc(2026, 11, 23)) == utc(2026, 11, 29)


@pytest.mark.parametrize(("macro", "equivalent"), [
    ("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"), ("@monthly", "0 0 1 * *"), ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
])
def test_macros(macro: str, equivalent: str) -> None:
    start = utc(2026, 11, 23, 3, 17)
    assert ticks(Cron(macro), start, 3) == ticks(Cron(equivalent), start, 3)


def test_a_time_zone_moves_the_ticks_and_they_come_back_in_utc() -> None:
    cron = Cron("0 9 * * *", timezone="Europe/Paris")
    assert cron.next_after(utc(2026, 1, 15, 12, 0)) == utc(2026, 1, 16, 8, 0)   # CET, +01:00
    assert cron.next_after(utc(2026, 7, 15, 12, 0)) == utc(2026, 7, 16, 7, 0)   # CEST, +02:00
    assert cron.next_after(utc(2026, 7, 15, 12, 0)).tzinfo is UTC
    assert cron.timezone == "Europe/Paris" and Cron("0 9 * * *").timezone == "UTC"


def test_an_unknown_time_zone_is_a_validation_error() -> None:
    for name in ("Europe/Atlantis", "../etc/passwd", ""):
        with pytest.raises(ValidationError) as caught:
            Cron("0 9 * * *", timezone=name)
        assert caught.value.code == "CL400"


def test_the_tick_key_is_the_tick_in_utc() -> None:
    tick = Cron("0 9 * * *", timezone="Europe/Paris").next_after(utc(2026, 7, 15, 12, 0))
    assert tick_key("reports.daily", tick) == "periodic:reports.daily:2026-07-16T07:00:00+00:00"
    # the same instant written in Paris time is the same key
    assert tick_key("reports.daily", tick.astimezone(PARIS)) == tick_key("reports.daily", tick)


# -- DST (Europe/Paris: 2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 -> 02:00) ------------

def test_a_tick_in_the_skipped_hour_fires_once_when_the_hour_ends() -> None:
    daily = Cron("30 2 * * *", timezone="Europe/Paris")
    assert ticks(daily, utc(2026, 3, 28, 12, 0), 2) == [
        utc(2026, 3, 29, 1, 0),   # 03:00 CEST, the first minute after the gap
        utc(2026, 3, 30, 0, 30)]  # 02:30 CEST the next day
    half_hourly = Cron("*/30 * * * *", timezone="Europe/Paris")
    # 01:30 CET, then 02:00 and 02:30 do not exist: one tick at 03:00 CEST, then on
    assert ticks(half_hourly, utc(2026, 3, 29, 0, 10), 4) == [
        utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2, 0)]


def test_a_repeated_hour_fires_once() -> None:
    daily = Cron("30 2 * * *", timezone="Europe/Paris")
    # 02:30 CEST (00:30Z) happens; 02:30 CET (01:30Z), the same wall time again, does not
    assert ticks(daily, utc(2026, 10, 24, 12, 0), 2) == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
    assert daily.next_after(utc(2026, 10, 25, 0, 30)) == utc(2026, 10, 26, 1, 30)
    assert not daily.matches(utc(2026, 10, 25, 1, 30))
    in_the_hour = Cron("15 2,3 * * *", timezone="Europe/Paris")
    assert ticks(in_the_hour, utc(2026, 10, 24, 23, 0), 2) == [utc(2026, 10, 25, 0, 15), utc(2026, 10, 25, 2, 15)]


def test_an_every_hour_expression_keeps_its_interval_through_the_repeated_hour() -> None:
    # the hour field is *: ticks are an interval, and every real half hour still ticks
    # (as Vixie cron runs wildcard jobs); their UTC keys never collide
    half_hourly = Cron("*/30 * * * *", timezone="Europe/Paris")
    got = ticks(half_hourly, utc(2026, 10, 24, 23, 50), 6)
    assert got == [utc(2026, 10, 25, 0, 0) + timedelta(minutes=30 * i) for i in range(6)]
    assert len({tick_key("t", t) for t in got}) == 6
