"""Five-field cron expressions (minute hour day-of-month month day-of-week), in UTC.

Each field is ``*``, a number, a range ``a-b``, a list ``a,b``, or any of these with a
step ``/n``. Day-of-week is 0–6 with Sunday 0 (7 is accepted as Sunday). As in classic
cron, when both day fields are restricted a day matches if either does. Used by
``Worker.periodic``; ``Cron("0 * * * *").next_after(t)`` is the first tick after ``t``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from collab_sdk.errors import ValidationError

__all__ = ["Cron"]

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
           ("day of week", 0, 7))


def _parse_field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = _number(step_text, name) if step_text else 1
        if body == "*":
            start, end = low, high
        elif "-" in body:
            start, end = (_number(x, name) for x in body.split("-", 1))
        else:
            start = _number(body, name)
            end = high if step_text else start
        if not (low <= start <= end <= high) or step < 1:
            raise ValidationError(f"cron {name} field {part!r} is out of range {low}-{high}", code="CL400")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _number(text: str, name: str) -> int:
    if not text.isdigit():
        raise ValidationError(f"cron {name} field has {text!r}, not a number", code="CL400")
    return int(text)


class Cron:
    """A parsed cron expression; raises ``ValidationError`` for a malformed one."""

    def __init__(self, expression: str) -> None:
        parts = expression.split()
        if len(parts) != 5:
            raise ValidationError(f"cron expression {expression!r} needs 5 fields, has {len(parts)}",
                                  code="CL400")
        self.expression = expression
        minute, hour, dom, month, dow = (_parse_field(p, *f) for p, f in zip(parts, _FIELDS))
        self.minutes, self.hours, self.days, self.months = minute, hour, dom, month
        self.weekdays = frozenset(d % 7 for d in dow)
        self._any_day = parts[2] == "*"
        self._any_weekday = parts[4] == "*"

    def _day_matches(self, t: datetime) -> bool:
        in_month = t.day in self.days
        in_week = (t.isoweekday() % 7) in self.weekdays
        if self._any_day or self._any_weekday:
            return in_month and in_week
        return in_month or in_week

    def matches(self, t: datetime) -> bool:
        """Whether the minute of ``t`` (UTC) is a tick."""
        t = t.astimezone(timezone.utc)
        return (t.minute in self.minutes and t.hour in self.hours and t.month in self.months
                and self._day_matches(t))

    def next_after(self, t: datetime) -> datetime:
        """The first tick strictly after ``t``, in UTC."""
        candidate = t.astimezone(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = candidate + timedelta(days=5 * 366)  # enough for "0 0 29 2 *" (leap days)
        while candidate < limit:
            if candidate.month not in self.months or not self._day_matches(candidate):
                candidate = candidate.replace(hour=0, minute=0) + timedelta(days=1)
            elif candidate.hour not in self.hours:
                candidate = candidate.replace(minute=0) + timedelta(hours=1)
            elif candidate.minute not in self.minutes:
                candidate += timedelta(minutes=1)
            else:
                return candidate
        raise ValidationError(f"cron expression {self.expression!r} never fires", code="CL400")
