-- collab workflows: approval (resume), cancel and retry of runs. Each locks the run row
-- first and waits for no job (see the runs migration for the lock order).

-- Lock a run for a change, like collab._lock_job: not visible is CL404, a member
-- without one of `roles` CL403, a status outside `allowed_statuses` CL412.
create function collab._lock_run(run_id uuid, roles text[], allowed_statuses text[] default null,
                                 verb text default null)
  returns collab.workflow_runs
  language plpgsql set search_path = ''
as $$
declare
  r collab.workflow_runs;
begin
  if run_id is null then
    perform collab._raise('CL400', 'run_id is required');
  end if;
  select * into r from collab.workflow_runs where id = _lock_run.run_id for update;
  if not found or not collab._caller_can_see(r.executor_id) then
    perform collab._raise('CL404', format('run %s not found', run_id));
  end if;
  perform collab._require_member(r.executor_id, roles);
  if allowed_statuses is not null and not r.status = any (allowed_statuses) then
    perform collab._raise('CL412', format('cannot %s run %s: it is %s', verb, r.id, r.status));
  end if;
  return r;
end
$$;

-- Resume a waiting approval step with `data` (a JSON object), which becomes its output;
-- the run continues. Exactly once: a step that is not waiting (already resumed, or
-- never an approval that waits) is CL412.
create function collab.resume_run_v1(run_id uuid, step_id text, data jsonb default '{}'::jsonb)
  returns setof collab.workflow_runs
  language plpgsql security definer set search_path = ''
as $$
declare
  r collab.workflow_runs;
  s collab.workflow_step_runs;
begin
  if jsonb_typeof(coalesce(data, '{}'::jsonb)) <> 'object' then
    perform collab._raise('CL400', 'data must be a JSON object');
  end if;
  perform collab._check_size('data', data, 1048576);
  r := collab._lock_run(run_id, '{client,worker,admin}');
  select * into s from collab.workflow_step_runs x
   where x.run_id = r.id and x.step_id = resume_run_v1.step_id for update;
  if not found then
    perform collab._raise('CL404', format('step %s not found in run %s', coalesce(step_id, 'null'), r.id));
  end if;
  if s.status <> 'waiting' then
    perform collab._raise('CL412', format('cannot resume step %s of run %s: it is %s%s', s.step_id, r.id, s.status,
      case when s.kind <> 'approval' then ' (only approval steps wait for resume)' else '' end));
  end if;
  update collab.workflow_step_runs x
     set status = 'succeeded', output = coalesce(data, '{}'::jsonb), started_at = now(),
         completed_at = now(), updated_at = now()
   where x.run_id = r.id and x.step_id = s.step_id;
  perform collab._run_event(r, 'step_succeeded', jsonb_strip_nulls(jsonb_build_object(
    'step_id', s.step_id, 'output', case when octet_length(coalesce(data, '{}'::jsonb)::text) <= 65536
                                         then coalesce(data, '{}'::jsonb) end,
    'output_truncated', case when octet_length(coalesce(data, '{}'::jsonb)::text) > 65536 then true end,
    'resumed_by', auth.uid())));
  update collab.workflow_runs u
     set context = u.context || jsonb_build_object(s.step_id, coalesce(data, '{}'::jsonb)), updated_at = now()
   where u.id = r.id;
  perform collab._advance_run(r.id);
  return query select * from collab.workflow_runs u where u.id = r.id;
end
$$;

-- Cancel a pending, running or paused run in one transaction: every step that has not
-- finished is cancelled, queued step jobs are cancelled, running ones too (their worker's
-- next extend or complete is refused: lease lost), and no successor starts afterwards.
create function collab.cancel_run_v1(run_id uuid, reason text default null)
  returns setof collab.workflow_runs
  language plpgsql security definer set search_path = ''
as $$
declare
  r collab.workflow_runs;
begin
  r := collab._lock_run(run_id, '{client,worker,admin}', '{pending,running,paused}', 'cancel');
  return next collab._stop_run(r.id, 'cancelled', coalesce(left(reason, 16384), 'cancelled'));
end
$$;

-- Retry a failed run from where it failed: its failed steps and the steps cancelled by
-- the failure go back to pending (events step_pending, and run_retried listing them);
-- succeeded steps keep their outputs and never run again; the run is running again and
-- every reset step whose predecessors have succeeded is enqueued as a new job.
create function collab.retry_run_v1(run_id uuid)
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
  return query select * from collab.workflow_runs u where u.id = r.id;
end
$$;
