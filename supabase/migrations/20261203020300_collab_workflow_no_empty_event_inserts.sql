-- collab workflows: no event insert of zero rows on a step's finish.
--
-- _advance_run logged `step_waiting` and the finish trigger `step_failed` /
-- `step_cancelled` in an INSERT ... SELECT that found no rows on almost every finish (a
-- job step succeeded, its successors are job steps). A statement of no rows still runs
-- collab.job_events' statement triggers, whose WHEN clauses call
-- collab._event_listeners_present() (an advisory try-lock and unlock; 4 us a call in
-- pg_stat_statements) and test the transaction's xid: twice a step for nothing. The rows
-- are now gathered first and inserted only when there are some; same rows, same order.

create or replace function collab._advance_run(run_id uuid) returns text
  language plpgsql set search_path = ''
as $$
declare
  r collab.workflow_runs;
  c record;
  queued integer;
  waiting jsonb;
  next_status text;
begin
  select * into r from collab.workflow_runs x where x.id = _advance_run.run_id;
  perform set_config('collab.step_events', 'on', true);
  with ready as materialized (
    select s.step_id, s.type, s.kind, s.config, s.max_attempts,
           jsonb_build_object(
             'input', r.input,
             'steps', coalesce((select jsonb_object_agg(q.step_id, q.output)
                                  from collab.workflow_step_runs q
                                 where q.run_id = s.run_id and q.step_id = any (s.predecessors)),
                               '{}'::jsonb)) as input
      from collab.workflow_step_runs s
     where s.run_id = r.id and s.status = 'pending'
       and not exists (select 1 from collab.workflow_step_runs q
                        where q.run_id = s.run_id and q.step_id = any (s.predecessors)
                          and q.status <> 'succeeded')
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
    returning s.step_id, s.status, s.type
  )
  select count(*) filter (where m.status = 'queued'),
         jsonb_agg(jsonb_build_object('run_id', r.id, 'step_id', m.step_id, 'type', m.type) order by m.step_id)
           filter (where m.status = 'waiting')
    into queued, waiting
    from moved m;
  if waiting is not null then
    insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
    select r.id, r.executor_id, 'step_waiting', w.payload, r.id
      from jsonb_array_elements(waiting) with ordinality as w (payload, ord) order by w.ord;
  end if;
  if queued > 0 and r.status = 'running' then
    return 'running';  -- a job step is queued now: the run stays running
  end if;

  select count(*) as total,
         count(*) filter (where s.status = 'succeeded') as done,
         count(*) filter (where s.status in ('queued', 'running')) as active,
         count(*) filter (where s.status = 'waiting') as waiting
    into c
    from collab.workflow_step_runs s where s.run_id = r.id;
  next_status := case when c.done = c.total then 'succeeded'
                      when c.active = 0 and c.waiting > 0 then 'paused'
                      else 'running' end;
  if next_status <> r.status then
    perform collab._set_run_status(r.id, next_status);
  end if;
  return next_status;
end
$$;

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
      returning s.step_id, s.status, s.error, s.job_id
    )
    select count(*) as n,
           (array_agg(format('step %s %s: %s', t.step_id, case when t.status = 'failed' then 'failed' else 'was cancelled' end, t.error)
                      order by t.step_id) filter (where t.status <> 'succeeded'))[1] as failure,
           jsonb_agg(jsonb_build_object('event_type', 'step_' || t.status, 'payload',
                       jsonb_build_object('run_id', rid, 'step_id', t.step_id, 'job_id', t.job_id,
                                          'error', left(t.error, 2000))) order by t.step_id)
             filter (where t.status <> 'succeeded') as stopped
      into d
      from done t;
    if d.stopped is not null then
      insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
      select rid, r.executor_id, e.v ->> 'event_type', e.v -> 'payload', rid
        from jsonb_array_elements(d.stopped) with ordinality as e (v, ord) order by e.ord;
    end if;
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
