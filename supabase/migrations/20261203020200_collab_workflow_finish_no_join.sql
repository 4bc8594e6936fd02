-- collab workflows: the finish trigger no longer joins its transition tables.
--
-- _jobs_workflow_after_update joined new_rows to old_rows (to see which jobs changed
-- status, and which a claim took), and so ran with enable_nestloop = off: a cached plan
-- nesting one transition table over the other is quadratic in a big batch. Neither join
-- is needed: a finished job whose step is still `queued` with it is one this statement
-- finished (every earlier finish settled its step in its own statement: the flag of
-- jobs_workflow_finished is set by any change to a finished status), and a running job
-- whose step is not active with it is an orphan whoever claimed it. Without the join
-- the function needs no SET enable_nestloop (a GUC set and restored at every call) and
-- no hash join per statement; its look-ups of step rows stay index probes (scalar
-- subqueries, or the update's join on the primary key), good at any batch size.

create or replace function collab._jobs_workflow_after_update() returns trigger
  language plpgsql security definer set search_path = ''
as $$
declare
  run_ids uuid[];
  orphans uuid[];
  rid uuid;
  r collab.workflow_runs;
  d record;
begin
  perform set_config('collab.workflow_jobs', '', true);

  -- A job claimed while its step is no longer active (the run was cancelled or failed
  -- while the claim held the job) is cancelled now: the worker's next extend or complete
  -- is refused (lease lost).
  --
  -- The step rows are looked up by scalar subqueries (one index probe per job). Only a
  -- claim flags an orphan; any running job of the statement whose step is not active
  -- with it is one (a job claimed earlier is checked by its own claim).
  if current_setting('collab.workflow_orphans', true) = 'on' then
    perform set_config('collab.workflow_orphans', '', true);
    select array_agg(n.id) into orphans
      from new_rows n
     where n.workflow_run_id is not null and n.status = 'running'
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

  -- Finished jobs of active steps: lock their runs in id order, then settle each run.
  -- (A step that is not active for its job now never will be again: a retried run gives
  -- the step a new job. So the filter needs no lock.)
  select array_agg(distinct n.workflow_run_id order by n.workflow_run_id) into run_ids
    from new_rows n
   where n.status in ('succeeded', 'failed', 'cancelled')
     and (select s.status from collab.workflow_step_runs s
           where s.run_id = n.workflow_run_id and s.step_id = n.workflow_step_id
             and s.job_id = n.id) = 'queued';
  if run_ids is null then
    return null;
  end if;
  foreach rid in array run_ids loop
    select * into r from collab.workflow_runs x where x.id = rid for update;
    with done as (
      update collab.workflow_step_runs s
         set status = case when n.status = 'succeeded' then 'succeeded'
                           when n.status = 'failed' then 'failed' else 'cancelled' end,
             output = case when n.status = 'succeeded' then n.result end,
             error = case when n.status = 'failed' then left(coalesce(n.last_error, 'failed'), 16384)
                          when n.status = 'cancelled'
                            then left(coalesce('its job was cancelled: ' || n.last_error, 'its job was cancelled'), 16384)
                     end,
             completed_at = now(), updated_at = now()
        from new_rows n
       where s.run_id = rid and n.workflow_run_id = rid and s.step_id = n.workflow_step_id and s.job_id = n.id
         and s.status = 'queued'
         and n.status in ('succeeded', 'failed', 'cancelled')
      returning s.step_id, s.status, s.output, s.error, s.job_id
    ), logged as (
      insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
      select rid, r.executor_id, 'step_' || t.status,
             jsonb_build_object('run_id', rid, 'step_id', t.step_id, 'job_id', t.job_id,
                                'error', left(t.error, 2000)),
             rid
        from done t where t.status <> 'succeeded' order by t.step_id
    )
    select count(*) as n,
           (array_agg(format('step %s %s: %s', t.step_id, case when t.status = 'failed' then 'failed' else 'was cancelled' end, t.error)
                      order by t.step_id) filter (where t.status <> 'succeeded'))[1] as failure
      into d
      from done t;
    if d.n > 0 and collab._event_listeners_present() then
      perform collab._hint_event_readers(array[r.executor_id], array[rid::text]);
    end if;
    continue when d.n = 0 or r.status not in ('pending', 'running', 'paused');
    if d.failure is not null then
      perform collab._stop_run(rid, 'failed', d.failure);
    else
      perform collab._advance_run(rid);
    end if;
  end loop;
  return null;
end
$$;
