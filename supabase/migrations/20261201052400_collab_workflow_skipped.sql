-- collab workflows: `skipped` comes back, with the transition that produces it.
--
-- 20261201052100 dropped the state because nothing reached it. It now means what users of
-- DAG engines expect (Airflow calls it upstream_failed): a step that can never run
-- because its run failed. In the transaction that fails a run
-- (collab._stop_run with status 'failed'), every step still `pending` becomes `skipped`,
-- each with a `step_skipped` event, written with the `step_cancelled` events of the
-- steps the failure stopped and before `run_failed`, all in step id order. Before, those
-- steps stayed `pending` in a failed run, which read as "will run" in every view.
-- A cancel is unchanged: it cancels pending steps (the user stopped them; a skip says
-- the engine could not run them).
--
-- retry_run_v1 puts skipped steps back to `pending` with the failed and cancelled ones
-- (each a `step_pending` event and an entry of `run_retried`'s `reset`), so they run
-- after the retried step.
--
-- Runs that failed before this migration keep their pending steps (no event says they
-- were skipped, and an event appended after `run_failed` would keep a watcher of the
-- ended run waiting for more); retrying them works as before.

alter table collab.workflow_step_runs drop constraint workflow_step_runs_status_check;
alter table collab.workflow_step_runs add constraint workflow_step_runs_status_check
  check (status in ('pending', 'queued', 'running', 'waiting', 'succeeded', 'failed', 'skipped', 'cancelled'));
comment on table collab.workflow_step_runs is
  'One row per step of a run; status pending|queued|running|waiting|succeeded|failed|skipped|cancelled (running: read from the step''s job; skipped: pending when its run failed)';

-- End a (locked) run as `status` (failed or cancelled): its active steps are cancelled;
-- its pending steps are skipped when it failed, cancelled when it was cancelled; their
-- queued and running jobs are cancelled where no other transaction holds them (those
-- find their step inactive in their own trigger), and the run moves to `status` with
-- `error`. (As in 20261201000500, plus the skip.)
create or replace function collab._stop_run(run_id uuid, status text, error text) returns collab.workflow_runs
  language plpgsql set search_path = ''
as $$
declare
  r collab.workflow_runs;
  job_ids uuid[];
  failed boolean := status = 'failed';
  reason text := case when status = 'cancelled' then 'cancelled: the run was cancelled'
                      else 'cancelled: the run failed' end;
  skip_reason text := 'skipped: the run failed' || coalesce(' (' || left(error, 2000) || ')', '');
begin
  select * into r from collab.workflow_runs x where x.id = _stop_run.run_id;
  with stopped as (
    update collab.workflow_step_runs s
       set status = case when s.status = 'pending' and failed then 'skipped' else 'cancelled' end,
           error = case when s.status = 'pending' and failed then skip_reason else reason end,
           completed_at = now(), updated_at = now()
     where s.run_id = r.id
       and s.status in ('queued', 'running', 'waiting', 'pending')
    returning s.step_id, s.job_id, s.status, s.error
  ), logged as (
    insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
    select r.id, r.executor_id, 'step_' || t.status,
           jsonb_strip_nulls(jsonb_build_object('run_id', r.id, 'step_id', t.step_id, 'job_id', t.job_id,
                                                'error', t.error)), r.id
      from stopped t order by t.step_id
  )
  select array_agg(t.job_id) filter (where t.job_id is not null) into job_ids from stopped t;
  if job_ids is not null then
    update collab.jobs j
       set status = 'cancelled', finished_at = now(), updated_at = now(),
           last_error = format('%s (run %s)', reason, r.id)
     where j.id = any (array(select q.id from collab.jobs q
                              where q.id = any (job_ids) and q.status in ('queued', 'running')
                                for update skip locked));
  end if;
  return collab._set_run_status(r.id, status, error);
end
$$;

-- Retry a failed run from where it failed (as in 20261201052200): its failed steps, the
-- steps the failure cancelled and the steps it skipped go back to pending.
create or replace function collab.retry_run_v1(run_id uuid)
  returns setof collab.workflow_runs
  language plpgsql security definer set search_path = ''
as $$
declare
  r collab.workflow_runs;
  reset_steps jsonb;
begin
  r := collab._lock_run(run_id, '{client,worker,admin}', '{failed}', 'retry');
  with back as (
    update collab.workflow_step_runs s
       set status = 'pending', output = null, error = null, job_id = null, input = null,
           attempts = s.attempts + coalesce((select j.attempts from collab.jobs j where j.id = o.job_id), 0),
           queued_at = null, started_at = null, completed_at = null, updated_at = now()
      from collab.workflow_step_runs o
     where s.run_id = r.id and o.run_id = s.run_id and o.step_id = s.step_id
       and o.status in ('failed', 'cancelled', 'skipped')
    returning s.step_id, o.status as previous_status, o.job_id as previous_job_id, o.error as previous_error
  )
  select coalesce(jsonb_agg(jsonb_build_object('step_id', b.step_id, 'previous_status', b.previous_status,
                                               'previous_job_id', b.previous_job_id,
                                               'previous_error', left(b.previous_error, 2000))
                            order by b.step_id), '[]'::jsonb)
    into reset_steps from back b;
  perform collab._run_event(r, 'run_retried', jsonb_build_object('reset', reset_steps, 'previous_error', left(r.error, 2000)));
  insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
  select r.id, r.executor_id, 'step_pending',
         jsonb_build_object('run_id', r.id, 'step_id', e ->> 'step_id', 'previous_status', e ->> 'previous_status',
                            'previous_job_id', e -> 'previous_job_id'), r.id
    from jsonb_array_elements(reset_steps) with ordinality as x (e, n)
   order by x.n;
  perform collab._set_run_status(r.id, 'running');
  perform collab._advance_run(r.id);
  update collab.job_dead_letters d
     set retried_at = now(), retried_job_id = s.job_id
    from jsonb_array_elements(reset_steps) as e
    join collab.workflow_step_runs s on s.run_id = r.id and s.step_id = e ->> 'step_id'
   where d.job_id = (e ->> 'previous_job_id')::uuid and d.retried_at is null and s.job_id is not null;
  select * into r from collab.workflow_runs u where u.id = r.id;
  return next collab_private._live_run(r);
end
$$;
