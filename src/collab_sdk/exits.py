"""The exit statuses of every collab process — the ``collab`` commands and ``Worker.run``
— in one enum, so scripts and supervisors read one table (it is in the README)."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitStatus"]


class ExitStatus(IntEnum):
    """What a collab process exits with."""

    OK = 0               #: done; a worker stopped by a signal after every running job finished
    ERROR = 1            #: any other failure (a watched job failed or was cancelled, a fatal error)
    USAGE = 2            #: bad arguments or input rejected by the engine (CL400, CL413)
    NOT_FOUND = 3        #: no such job / dead letter, or not visible to you
    CONFLICT = 4         #: lease lost, invalid transition, idempotency conflict
    DENIED = 5           #: unauthorized or forbidden
    UNAVAILABLE = 69     #: the database could not be reached (EX_UNAVAILABLE)
    STUCK = 70           #: a worker gave up: too many hung sync handler threads; restart it (EX_SOFTWARE)
    DRAIN_TIMEOUT = 75   #: a worker's drain timed out; unfinished jobs were handed back (EX_TEMPFAIL)
    TIMEOUT = 124        #: ``collab watch --timeout`` passed before the job finished
    FORCED = 130         #: a second signal: stopped at once, jobs handed back where possible
