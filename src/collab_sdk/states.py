"""The one Python mirror of the engine's state vocabulary.

The SQL is the truth: ``collab.jobs``' status CHECK constraint, the event types its
triggers write (``_jobs_after_insert``/``_jobs_after_update``) and those a worker may
append (``append_job_event_v1``). A test compares this module with the migrated
database, so a word added on one side and not the other fails the suite. Everything in
Python that needs a status or an event type — models, streams, SSE, the CLI, the
worker's Realtime broadcasts — takes it from here. So do the workflow words: the
statuses of workflows, runs and steps, trigger types and step kinds (CHECKs on
``collab.workflows``, ``workflow_runs``, ``workflow_step_runs``, ``step_types``).
"""

from __future__ import annotations

__all__ = ["JOB_STATUSES", "LIVE_JOB_STATUSES", "FINAL_JOB_STATUSES", "TRANSITION_EVENTS",
           "WORKER_EVENTS", "EVENT_TYPES", "FINAL_EVENT_TYPES", "STATUS_AFTER_EVENT",
           "status_after", "WORKFLOW_STATUSES", "RUN_STATUSES", "FINAL_RUN_STATUSES",
           "STEP_STATUSES", "DONE_STEP_STATUSES", "TRIGGER_TYPES", "STEP_KINDS", "RUN_EVENT_TYPES",
           "STEP_EVENT_TYPES", "FINAL_RUN_EVENT_TYPES"]

#: Every value of ``collab.jobs.status``.
JOB_STATUSES = frozenset({"queued", "running", "succeeded", "failed", "cancelled"})
#: Statuses a job can still leave by itself: waiting to be claimed, or leased.
LIVE_JOB_STATUSES = frozenset({"queued", "running"})
#: Statuses after which a job does nothing more unless retried by hand.
FINAL_JOB_STATUSES = JOB_STATUSES - LIVE_JOB_STATUSES

#: The status a job has right after each transition event the triggers write.
STATUS_AFTER_EVENT: dict[str, str] = {
    "queued": "queued",            # inserted
    "claimed": "running",          # leased (an attempt counted)
    "succeeded": "succeeded",
    "retry_scheduled": "queued",   # failed with attempts left: back after a backoff
    "failed": "failed",            # out of attempts or not retryable: dead-lettered
    "cancelled": "cancelled",
    "retried": "queued",           # a finished job put back by hand
}
#: Event types the triggers write, one per status change.
TRANSITION_EVENTS = frozenset(STATUS_AFTER_EVENT)
#: Event types a leased worker appends (``append_job_event_v1``); they change no status.
WORKER_EVENTS = frozenset({"progress", "log"})
#: Every event type in ``collab.job_events``.
EVENT_TYPES = TRANSITION_EVENTS | WORKER_EVENTS
#: Event types that leave a job in a final status.
FINAL_EVENT_TYPES = frozenset(e for e, s in STATUS_AFTER_EVENT.items() if s in FINAL_JOB_STATUSES)


def status_after(event_type: str) -> str | None:
    """The job status an event leads to; None for an event that changes no status."""
    return STATUS_AFTER_EVENT.get(event_type)

#: Every value of ``collab.workflows.status``: drafts are edited, published ones run.
WORKFLOW_STATUSES = frozenset({"draft", "published", "archived"})
#: Every value of ``collab.workflow_runs.status``.
RUN_STATUSES = frozenset({"pending", "running", "paused", "succeeded", "failed", "cancelled"})
#: Run statuses after which a run does nothing more (a failed one may be retried).
FINAL_RUN_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
#: Every value of ``collab.workflow_step_runs.status`` as the RPCs report it (the table
#: holds ``queued`` while the step's job runs; ``run_steps_v1`` says ``running``).
#: ``skipped``: the step was still pending when its run failed, so it can never run
#: (``retry_run_v1`` makes it pending again); a cancel makes such steps ``cancelled``.
STEP_STATUSES = frozenset({"pending", "queued", "running", "waiting", "succeeded", "failed",
                           "skipped", "cancelled"})
#: Step statuses that let the run go on past the step.
DONE_STEP_STATUSES = frozenset({"succeeded"})
#: How a run was started.
TRIGGER_TYPES = frozenset({"manual", "webhook", "schedule"})
#: What a catalog step does: enqueue a collab job, or wait for a resume.
STEP_KINDS = frozenset({"job", "approval"})
#: Event types a run writes to the log: ``run_<status>`` and ``step_<status>``.
RUN_EVENT_TYPES = frozenset(f"run_{s}" for s in RUN_STATUSES)
STEP_EVENT_TYPES = frozenset(f"step_{s}" for s in STEP_STATUSES)
#: Run events after which the run does nothing more unless retried or resumed by hand.
FINAL_RUN_EVENT_TYPES = frozenset(f"run_{s}" for s in FINAL_RUN_STATUSES)
