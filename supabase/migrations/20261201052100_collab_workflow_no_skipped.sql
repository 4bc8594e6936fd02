-- collab workflows: the `skipped` step state is gone.
--
-- It was in the schema for conditional edges, which issue 13 does not ask for, and nothing
-- ever produced it (the engine's functions stopped counting it in
-- 20261201052000_collab_workflow_step_cost.sql). A state no transition reaches is a trap
-- for readers of the API (an SDK Literal, a dashboard filter, a state diagram), so the
-- check constraint no longer admits it. Conditions, when they come, will bring it back
-- with the transition that produces it.

alter table collab.workflow_step_runs drop constraint workflow_step_runs_status_check;
alter table collab.workflow_step_runs add constraint workflow_step_runs_status_check
  check (status in ('pending', 'queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled'));
comment on table collab.workflow_step_runs is
  'One row per step of a run; status pending|queued|running|waiting|succeeded|failed|cancelled (running: read from the step''s job)';
