-- collab workflows: a step's job is retried through its run, never on its own.
--
-- retry_job_v1 and dlq_retry_v1 retry one job: the first requeues it, the second copies
-- its dead letter into a new, plain job. For a workflow step neither can do what the
-- issue's retry means (only a failed run is retried; its failed steps and the steps
-- cancelled by the failure are reset and re-enqueued; succeeded steps never run again;
-- the run's events record the reset): a requeued step job was cancelled at its claim (its
-- step had ended), and a DLQ copy ran detached from its run, its output lost. So both are
-- refused for step jobs with CL412 naming the run and retry_run_v1, and retry_run_v1
-- settles the open dead letters of the steps it re-enqueues (retried_job_id = the step's
-- new job), so the DLQ shows them retried, linked to the job that continues the run.
--
-- Workflow-specific triggers: the queue's own functions are unchanged, and plain jobs and
-- plain dead letters never enter PL/pgSQL here (the WHEN clauses).

create function collab._refuse_step_job_retry() returns trigger
  language plpgsql set search_path = ''
as $$
begin
  perform collab._raise('CL412', format(
    'cannot retry job %s on its own: it is step %s of run %s; retry the run (retry_run_v1), which re-runs its failed steps',
    old.id, old.workflow_step_id, old.workflow_run_id));
  return null;
end
$$;

create trigger jobs_workflow_refuse_retry before update on collab.jobs
  for each row
  when (old.workflow_run_id is not null and old.status in ('succeeded', 'failed', 'cancelled')
        and new.status = 'queued')
  execute function collab._refuse_step_job_retry();

-- dlq_retry_v1 inserts a plain copy of the dead job, then marks the dead letter retried:
-- refused when the dead job was a step's (retry_run_v1's settling links the letter to a
-- job of the same run, which passes).
create function collab._refuse_step_dead_letter_retry() returns trigger
  language plpgsql security definer set search_path = ''
as $$
declare
  dead collab.jobs;
begin
  select * into dead from collab.jobs j where j.id = old.job_id;
  if dead.workflow_run_id is not null
     and not exists (select 1 from collab.jobs n
                      where n.id = new.retried_job_id and n.workflow_run_id = dead.workflow_run_id
                        and n.workflow_step_id = dead.workflow_step_id) then
    perform collab._raise('CL412', format(
      'cannot retry dead letter %s on its own: its job %s was step %s of run %s; retry the run (retry_run_v1), which re-runs its failed steps',
      old.id, dead.id, dead.workflow_step_id, dead.workflow_run_id));
  end if;
  return new;
end
$$;

revoke all on function collab._refuse_step_job_retry(), collab._refuse_step_dead_letter_retry()
  from public, anon, authenticated;

create trigger job_dead_letters_refuse_step_retry before update on collab.job_dead_letters
  for each row
  when (old.retried_at is null and new.retried_at is not null and old.job_id is not null)
  execute function collab._refuse_step_dead_letter_retry();

-- Retry a failed run from where it failed (as in 20261201052000), and settle the open
-- dead letters of the steps it re-enqueued.
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
       and o.status in ('failed', 'cancelled')
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
    from jsonb_array_elements(reset_steps) as e;
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
