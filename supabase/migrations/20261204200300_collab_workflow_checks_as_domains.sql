-- collab workflows: the step and run tables' CHECK constraints become domain types.
--
-- Measured with valgrind (cachegrind/callgrind, instructions of one backend draining
-- diamond steps; bench/README.md "workflows.py"): a quarter of a step's instructions, and
-- of a plain job's, go to stringToNode - PostgreSQL reading expression trees back from
-- their stored text. A table's CHECK constraints (pg_constraint.conbin) and its triggers'
-- WHEN clauses (pg_trigger.tgqual) are read again by every INSERT or UPDATE statement
-- (per statement, not per backend), and an UPDATE evaluates every CHECK of the table,
-- whichever columns it sets. A step's finish updates its step row (4 CHECKs, 3.8 kB of
-- node text), half the finishes update successors' step rows, a run's end its run row
-- (3 CHECKs, 3.5 kB): about 180,000 instructions a step, some 3-4 % of it.
--
-- A domain's CHECK is read once per backend (the type cache keeps the parsed expression)
-- and is evaluated only for the columns a statement assigns. The same rules, as domains:
-- workflow_step_runs.status / kind / attempts / max_attempts and workflow_runs.status /
-- trigger_type / idempotency_key. Clients see the base types (a row description names a
-- domain column's base type); a violation is still SQLSTATE 23514 (check_violation).
--
-- Order (the supabase CLI runs these statements one by one): each domain is created
-- without its CHECK, so retyping the column rewrites nothing; then the domain gets its
-- CHECK (validated against the rows), then the table's CHECK goes. Every row is checked
-- by one of the two at every point.

create domain collab.workflow_step_status as text;
create domain collab.workflow_step_kind as text;
create domain collab.workflow_step_attempts as integer;
create domain collab.workflow_step_max_attempts as integer;
create domain collab.workflow_run_status as text;
create domain collab.workflow_trigger_type as text;
create domain collab.workflow_run_idempotency_key as text;

alter table collab.workflow_step_runs
  alter column status type collab.workflow_step_status,
  alter column kind type collab.workflow_step_kind,
  alter column attempts type collab.workflow_step_attempts,
  alter column max_attempts type collab.workflow_step_max_attempts;
alter table collab.workflow_runs
  alter column status type collab.workflow_run_status,
  alter column trigger_type type collab.workflow_trigger_type,
  alter column idempotency_key type collab.workflow_run_idempotency_key;

alter domain collab.workflow_step_status add constraint workflow_step_status_check
  check (value in ('pending', 'queued', 'running', 'waiting', 'succeeded', 'failed', 'skipped', 'cancelled'));
alter domain collab.workflow_step_kind add constraint workflow_step_kind_check
  check (value in ('job', 'approval'));
alter domain collab.workflow_step_attempts add constraint workflow_step_attempts_check
  check (value >= 0);
alter domain collab.workflow_step_max_attempts add constraint workflow_step_max_attempts_check
  check (value >= 1 and value <= 1000);
alter domain collab.workflow_run_status add constraint workflow_run_status_check
  check (value in ('pending', 'running', 'paused', 'succeeded', 'failed', 'cancelled'));
alter domain collab.workflow_trigger_type add constraint workflow_trigger_type_check
  check (value in ('manual', 'webhook', 'schedule'));
alter domain collab.workflow_run_idempotency_key add constraint workflow_run_idempotency_key_check
  check (char_length(value) >= 1 and char_length(value) <= 255);

alter table collab.workflow_step_runs
  drop constraint workflow_step_runs_status_check,
  drop constraint workflow_step_runs_kind_check,
  drop constraint workflow_step_runs_attempts_check,
  drop constraint workflow_step_runs_max_attempts_check;
alter table collab.workflow_runs
  drop constraint workflow_runs_status_check,
  drop constraint workflow_runs_trigger_type_check,
  drop constraint workflow_runs_idempotency_key_check;

-- As 20261201052000 made it, with the two computed columns cast to their domains
-- (RETURN QUERY wants the row type's column types exactly).
create or replace function collab_private._live_steps(run_id uuid) returns setof collab.workflow_step_runs
  language plpgsql stable set search_path = ''
as $$
begin
  return query
  select s.run_id, s.step_id, s.executor_id, s.type, s.kind, s.position,
         (case when s.status = 'queued' and j.status = 'running' then 'running' else s.status end)::collab.workflow_step_status,
         s.predecessors, s.config, s.max_attempts,
         (s.attempts + coalesce(j.attempts, 0))::collab.workflow_step_attempts,
         s.input, s.output,
         case when s.status = 'queued' and j.id is not null then j.last_error else s.error end,
         s.job_id, s.created_at, s.queued_at,
         coalesce(j.started_at, s.started_at),
         s.completed_at, s.updated_at
    from collab.workflow_step_runs s
    left join collab.jobs j on j.id = s.job_id
   where s.run_id = _live_steps.run_id
   order by s.position, s.step_id;
end
$$;
