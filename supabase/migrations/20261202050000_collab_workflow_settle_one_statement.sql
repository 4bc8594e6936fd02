-- collab workflows: finishing a step and settling its run is one statement.
--
-- Issue 13's target is a workflow step at most 1.5x a plain job's claim + complete. The
-- run lock was measured not to be the cost (20261201052000); the fixed finishing work
-- was: the trigger that settles a finished step job ran about a dozen statements (a
-- probe of the step rows to find the runs, the run lock, the step update with its event,
-- then _advance_run: the run read again, the successors enqueued with their events, the
-- steps counted, and on a status change _set_run_status: the run read again, updated,
-- its context assembled, its event inserted - each insert into job_events also running
-- that table's statement triggers).
--
-- Now, per run: the lock, then collab._settle_run - one statement that marks the
-- finished steps, enqueues every successor whose predecessors have all succeeded,
-- decides the run's new status (writing the run row only when it changes, with its
-- context when it ends) and writes all their events in one insert, in the order they
-- had: the finished steps' events, the successors' `step_queued` / `step_waiting`, then
-- the run's event. A statement does not see its own updates, so the statement reads the
-- run's steps once and overlays the ones it finished. The runs a completing statement
-- touched are found without probing their steps (a run whose step is no longer active
-- for the job is locked and left unchanged: it is rare, and the probe was paid by every
-- finish). A failure still ends the run by collab._stop_run (cancels, skips, run_failed)
-- after the statement, as before.
--
-- _advance_run (start, resume, retry) is the same statement with nothing finished.
-- Behaviour, events and their order are unchanged; only the number of statements is.

-- Settle a (locked) run: the steps of `step_ids` whose job `job_ids` finished as
-- `statuses` (succeeded | failed | cancelled, with `results` / `errors`) are marked, each
-- with its event, if they are still active with that job. Then, while the run is active
-- and none of them failed: every pending step whose predecessors have all succeeded
-- starts (a job step is enqueued with the run's input and its predecessors' outputs; an
-- approval step waits), and the run moves to succeeded (every step succeeded), paused
-- (nothing queued, an approval waits) or running, with its event when that changes.
-- Returns the failure (`step X failed: ...`) that the caller must end the active run
-- with, else null.
create function collab._settle_run(r collab.workflow_runs, step_ids text[] default '{}',
                                   job_ids uuid[] default '{}', statuses text[] default '{}',
                                   results jsonb[] default '{}', errors text[] default '{}')
  returns text
  language plpgsql set search_path = ''
as $$
declare
  active boolean := r.status in ('pending', 'running', 'paused');
  failure text;
begin
  with finished as (
    select f.step_id, f.job_id, f.status, f.result, f.error
      from unnest(step_ids, job_ids, statuses, results, errors) as f (step_id, job_id, status, result, error)
  ), done as (
    update collab.workflow_step_runs s
       set status = f.status,
           output = case when f.status = 'succeeded' then f.result end,
           error = case when f.status = 'failed' then left(coalesce(f.error, 'failed'), 16384)
                        when f.status = 'cancelled'
                          then left(coalesce('its job was cancelled: ' || f.error, 'its job was cancelled'), 16384)
                   end,
           completed_at = now(), updated_at = now()
      from finished f
     where s.run_id = r.id and s.step_id = f.step_id and s.job_id = f.job_id and s.status = 'queued'
    returning s.step_id, s.status, s.output, s.error, s.job_id
  ), failed as materialized (
    select (array_agg(format('step %s %s: %s', t.step_id,
                             case when t.status = 'failed' then 'failed' else 'was cancelled' end, t.error)
                      order by t.step_id) filter (where t.status <> 'succeeded'))[1] as failure
      from done t
  ), steps as materialized (
    -- The run's steps as this statement leaves them (it cannot read its own updates).
    select s.step_id, s.type, s.kind, s.config, s.max_attempts, s.predecessors,
           coalesce(d.status, s.status) as status,
           case when d.step_id is null then s.output else d.output end as output
      from collab.workflow_step_runs s left join done d on d.step_id = s.step_id
     where s.run_id = r.id
  ), ready as materialized (
    select s.step_id, s.type, s.kind, s.config, s.max_attempts,
           jsonb_build_object(
             'input', r.input,
             'steps', coalesce((select jsonb_object_agg(q.step_id, q.output)
                                  from steps q where q.step_id = any (s.predecessors)), '{}'::jsonb)) as input
      from steps s, failed x
     where active and x.failure is null and s.status = 'pending'
       and not exists (select 1 from steps q where q.step_id = any (s.predecessors) and q.status <> 'succeeded')
  ), enqueued as (
    insert into collab.jobs (type, executor_id, payload, max_attempts, workflow_run_id, workflow_step_id)
    select y.type, r.executor_id,
           jsonb_build_object('run_id', r.id, 'workflow_id', r.workflow_id, 'step_id', y.step_id,
                              'config', y.config) || y.input,
           y.max_attempts, r.id, y.step_id
      from ready y where y.kind = 'job'
     order by y.step_id
    returning id, workflow_step_id
  ), moved as (
    update collab.workflow_step_runs s
       set status = case when y.kind = 'job' then 'queued' else 'waiting' end,
           job_id = e.id, input = y.input, queued_at = now(), updated_at = now()
      from ready y left join enqueued e on e.workflow_step_id = y.step_id
     where s.run_id = r.id and s.step_id = y.step_id
    returning s.step_id, s.status, s.type, s.job_id
  ), next as materialized (
    -- A ready step is pending in `steps`; it counts as queued (job) or waiting (approval).
    select case when count(*) = count(*) filter (where s.status = 'succeeded') then 'succeeded'
                when count(*) filter (where s.status in ('queued', 'running') or y.kind = 'job') = 0
                     and count(*) filter (where s.status = 'waiting' or y.kind = 'approval') > 0 then 'paused'
                else 'running' end as status
      from steps s left join ready y on y.step_id = s.step_id
     where active and (select x.failure from failed x) is null
    having count(*) > 0
  ), ran as (
    -- As collab._set_run_status: the error cleared, the context written when the run ends.
    update collab.workflow_runs u
       set status = n.status, error = null,
           context = case when n.status = 'succeeded'
                          then coalesce((select jsonb_object_agg(s.step_id, s.output order by s.step_id)
                                           from steps s where s.status = 'succeeded'), '{}'::jsonb)
                          else u.context end,
           started_at = coalesce(u.started_at, now()),
           completed_at = case when n.status = 'succeeded' then now() end,
           updated_at = now()
      from next n
     where u.id = r.id and n.status <> r.status
    returning u.status
  ), logged as (
    insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
    select r.id, r.executor_id, e.event_type, e.payload, r.id
      from (select 1 as k, t.step_id, 'step_' || t.status as event_type,
                   jsonb_build_object('run_id', r.id, 'step_id', t.step_id, 'job_id', t.job_id)
                   || case when t.status <> 'succeeded' then jsonb_build_object('error', left(t.error, 2000))
                           when octet_length(coalesce(t.output, 'null'::jsonb)::text) <= 65536
                             then jsonb_build_object('output', t.output)
                           else '{"output_truncated": true}'::jsonb end as payload
              from done t
            union all
            select 2, m.step_id, 'step_' || m.status,
                   jsonb_strip_nulls(jsonb_build_object('run_id', r.id, 'step_id', m.step_id, 'type', m.type,
                                                        'job_id', m.job_id))
              from moved m
            union all
            select 3, null, 'run_' || x.status,
                   jsonb_build_object('run_id', r.id, 'workflow_id', r.workflow_id, 'previous_status', r.status)
              from ran x) e
     order by e.k, e.step_id
  )
  select x.failure into failure from failed x;
  return case when active then failure end;
end
$$;

revoke all on function collab._settle_run(collab.workflow_runs, text[], uuid[], text[], jsonb[], text[])
  from public, anon, authenticated;

-- Start every pending step of a (locked, active) run whose predecessors have all
-- succeeded and settle its status (start, resume, retry). Returns the status.
create or replace function collab._advance_run(run_id uuid) returns text
  language plpgsql set search_path = ''
as $$
declare
  r collab.workflow_runs;
begin
  select * into r from collab.workflow_runs x where x.id = _advance_run.run_id;
  perform collab._settle_run(r);
  return (select x.status from collab.workflow_runs x where x.id = _advance_run.run_id);
end
$$;

-- The statement trigger of finished step jobs (and of claims whose step is no longer
-- active): per run touched, in run id order, the lock and collab._settle_run.
create or replace function collab._jobs_workflow_after_update() returns trigger
  language plpgsql security definer set search_path = '' set enable_nestloop = off
as $$
declare
  orphans uuid[];
  f record;
  r collab.workflow_runs;
  failure text;
begin
  perform set_config('collab.workflow_jobs', '', true);

  -- A job claimed while its step is no longer active (the run was cancelled or failed
  -- while the claim held the job) is cancelled now: the worker's next extend or complete
  -- is refused (lease lost). (As in 20261201052000: a scalar subquery per job, since
  -- enable_nestloop is off for the transition tables' join.)
  if current_setting('collab.workflow_orphans', true) = 'on' then
    perform set_config('collab.workflow_orphans', '', true);
    select array_agg(n.id) into orphans
      from new_rows n join old_rows o on o.id = n.id
     where n.workflow_run_id is not null and n.status = 'running' and n.attempts > o.attempts
       and (select s.status from collab.workflow_step_runs s
             where s.run_id = n.workflow_run_id and s.step_id = n.workflow_step_id
               and s.job_id = n.id) is distinct from 'queued';
  end if;
  if orphans is not null then
    update collab.jobs j
       set status = 'cancelled', finished_at = now(), updated_at = now(),
           last_error = format('cancelled: step %s of run %s is no longer active', j.workflow_step_id, j.workflow_run_id)
     where j.id = any (orphans) and j.status = 'running';
  end if;

  -- Finished step jobs, by run: lock the runs in id order, then settle each.
  for f in
    select n.workflow_run_id as run_id,
           array_agg(n.workflow_step_id order by n.workflow_step_id) as step_ids,
           array_agg(n.id order by n.workflow_step_id) as job_ids,
           array_agg(n.status order by n.workflow_step_id) as statuses,
           array_agg(n.result order by n.workflow_step_id) as results,
           array_agg(n.last_error order by n.workflow_step_id) as errors
      from new_rows n join old_rows o on o.id = n.id
     where n.workflow_run_id is not null and n.status in ('succeeded', 'failed', 'cancelled')
       and o.status <> n.status
     group by n.workflow_run_id
     order by n.workflow_run_id
  loop
    select * into r from collab.workflow_runs x where x.id = f.run_id for update;
    continue when not found;
    failure := collab._settle_run(r, f.step_ids, f.job_ids, f.statuses, f.results, f.errors);
    if failure is not null then
      perform collab._stop_run(r.id, 'failed', failure);
    end if;
  end loop;
  return null;
end
$$;
