"""Cron expressions of ``Worker.periodic``, parsed by ``croniter``, in a time zone.

Five fields (minute hour day-of-month month day-of-week) or a macro (``@hourly``,
``@daily``/``@midnight``, ``@weekly``, ``@monthly``, ``@yearly``/``@annually``). A field is
``*``, a number, a range ``a-b`` (``22-2`` wraps around midnight), a list ``a,b``, any of these with a step ``/n``, and
months and weekdays may be names (``jan``, ``mon-fri``). Day-of-week is 0–6 with Sunday 0
(7 is Sunday too); as in classic cron, when both day fields are restricted a day matches
if either does.

Ticks are wall-clock times in ``timezone`` (an IANA name read by ``zoneinfo``, default
UTC) and come back as UTC instants. Daylight saving time follows Vixie cron: a tick in
the hour that is skipped fires once, at the first minute after the gap; a wall time the
clock passes twice fires once (its first pass) unless the minute or hour field is a
wildcard (``*``, ``*/n``, ``@hourly``), whose ticks are an interval and keep it.
``Cron("0 9 * * *", timezone="Europe/Paris").next_after(t)`` is the first tick after ``t``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone as _tz
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter

from collab_sdk.errors import ValidationError

__all__ = ["Cron"]

_UTC = _tz.utc
_MINUTE = timedelta(minutes=1)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo("UTC" if name is None else name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"unknown time zone {name!r}", code="CL400") from exc


def _second_pass(local: datetime) -> bool:
    """Whether ``local`` is the second time the clock shows this wall time (DST ends)."""
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()


class Cron:
    """A parsed cron expression in a time zone; raises ``ValidationError`` (CL400) for a
    malformed one, an unknown zone or an expression that never fires."""

    def __init__(self, expression: str, timezone: str | None = None) -> None:
        text = expression.strip()
        if not text.startswith("@") and len(text.split()) != 5:
            raise ValidationError(f"cron expression {expression!r} needs 5 fields, has "
                                  f"{len(text.split())}", code="CL400")
        self.expression = expression
        self._zone = _zone(timezone)
        #: The IANA name of the zone the ticks are wall-clock times in.
        self.timezone = self._zone.key
        try:
            fields = croniter(text).expressions
        except CroniterError as exc:
            raise ValidationError(f"cron expression {expression!r} is not valid: {exc}",
                                  code="CL400") from exc
        self._text = text
        self._interval = str(fields[0]).startswith("*") or str(fields[1]).startswith("*")
        self.next_after(datetime.now(_UTC))  # refuses one that never fires, now

    def next_after(self, t: datetime) -> datetime:
        """The first tick strictly after ``t`` (an aware datetime), in UTC."""
        start = t.astimezone(self._zone).replace(second=0, microsecond=0)
        ticks = croniter(self._text, start)
        while True:
            try:
                tick = ticks.get_next(datetime).astimezone(self._zone)
            except CroniterBadDateError as exc:
                raise ValidationError(f"cron expression {self.expression!r} never fires",
                                      code="CL400") from exc
            if self._interval or not _second_pass(tick):
                return tick.astimezone(_UTC)

    def matches(self, t: datetime) -> bool:
        """Whether the minute of ``t`` (an aware datetime) is a tick."""
        minute = t.astimezone(_UTC).replace(second=0, microsecond=0)
        return self.next_after(minute - _MINUTE) == minute

    def __repr__(self) -> str:
        return f"Cron({self.expression!r}, timezone={self.timezone!r})"
