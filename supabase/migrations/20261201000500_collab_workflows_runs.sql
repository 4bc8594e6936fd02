-- collab workflows: runs, and the DAG advancing in SQL in the transaction that finishes
-- a step.
--
-- A `job` step is a collab job of its step type with payload
--   { run_id, workflow_id, step_id, config, input: <the run's input>,
--     steps: { <predecessor step id>: <its output>, ... } }
-- (the step run's `input` column holds the last two). The jobs triggers below move the
-- step with its job: claimed -> running, retry scheduled -> queued, succeeded -> the step
-- succeeds, its output joins the run context and every successor whose predecessors have
-- all succeeded is enqueued; failed (dead-lettered) or cancelled -> the step fails, the
-- run fails, and its other active steps are cancelled.
--
-- Locks, in the order every path takes them (so no two transactions wait on each other):
--   job rows -> run row -> step rows.
-- A job transition already holds its job; the trigger then locks the runs concerned in
-- id order. Paths that start from the run (resume, cancel, retry, fail) never wait for a
-- job: they cancel jobs with SKIP LOCKED, and a job skipped that way finds its step no
-- longer active in its own trigger (a claim of it is cancelled there; a complete of it
-- is ignored). Claims and retry-scheduling update only their own step rows (in key
-- order) and take no run lock.
--
-- Events: run and step transitions are rows of collab.job_events with run_id = the run
-- and job_id = the run id too (the column is not null; readers parse it as a uuid):
--   run_pending (payload: the steps), run_running, run_paused, run_succeeded,
--   run_failed, run_cancelled, run_retried; step_queued, step_waiting, step_running,
--   step_succeeded, step_failed, step_cancelled, step_pending (reset by a retry).
-- The status after an event is its name without the prefix, so replaying a run's events
-- gives its statuses.

-- Write one run-level event.
create function collab._run_event(r collab.workflow_runs, event_type text, payload jsonb) returns void
  language plpgsql set search_path = ''
as $$
begin
  insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
  values (r.id, r.executor_id, event_type,
          jsonb_build_object('run_id', r.id, 'workflow_id', r.workflow_id) || coalesce(payload, '{}'::jsonb), r.id);
end
$$;

-- Move a (locked) run to `status`, with its event. Failures keep `error`; other statuses
-- clear it.
create function collab._set_run_status(run_id uuid, status text, error text default null)
  returns collab.workflow_runs
  language plpgsql set search_path = ''
as $$
declare
  before text;
  r collab.workflow_runs;
begin
  select x.status into before from collab.workflow_runs x where x.id = _set_run_status.run_id;
  update collab.workflow_runs u
     set status = _set_run_status.status,
         error = case when _set_run_status.status in ('failed', 'cancelled') then left(_set_run_status.error, 16384) end,
         started_at = coalesce(u.started_at, now()),
         completed_at = case when _set_run_status.status in ('succeeded', 'failed', 'cancelled') then now() end,
         updated_at = now()
   where u.id = _set_run_status.run_id
  returning u.* into r;
  if before is distinct from status then
    perform collab._run_event(r, 'run_' || status,
      jsonb_strip_nulls(jsonb_build_object('previous_status', before, 'error', left(r.error, 2000))));
  end if;
  return r;
end
$$;

-- Start every pending step of a (locked, active) run whose predecessors have all
-- succeeded: a job step is enqueued, an approval step waits. Then settle the run's
-- status: succeeded when every step succeeded or was skipped, paused when nothing is
-- queued or running but an approval waits, else running. Returns the status.
create function collab._advance_run(run_id uuid) returns text
  language plpgsql set search_path = ''
as $$
declare
  r collab.workflow_runs;
  c record;
  next_status text;
begin
  select * into r from collab.workflow_runs x where x.id = _advance_run.run_id;
  with ready as materialized (
    select s.step_id, s.type, s.kind, s.config, s.max_attempts,
           jsonb_build_object(
             'input', r.input,
             'steps', coalesce((select jsonb_object_agg(p, r.context -> p) from unnest(s.predecessors) as p),
                               '{}'::jsonb)) as input
      from collab.workflow_step_runs s
     where s.run_id = r.id and s.status = 'pending'
       and not exists (select 1 from collab.workflow_step_runs q
                        where q.run_id = s.run_id and q.step_id = any (s.predecessors)
                          and q.status not in ('succeeded', 'skipped'))
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
  )
  insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
  select r.id, r.executor_id, 'step_' || m.status,
         jsonb_strip_nulls(jsonb_build_object('run_id', r.id, 'step_id', m.step_id, 'type', m.type,
                                              'job_id', m.job_id)), r.id
    from moved m order by m.step_id;

  select count(*) as total,
         count(*) filter (where s.status in ('succeeded', 'skipped')) as done,
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

-- End a (locked) run as `status` (failed or cancelled): its active steps are cancelled
-- (for a cancel, its pending steps too), their queued and running jobs are cancelled
-- where no other transaction holds them (those find their step inactive in their own
-- trigger), and the run moves to `status` with `error`.
create function collab._stop_run(run_id uuid, status text, error text) returns collab.workflow_runs
  language plpgsql set search_path = ''
as $$
declare
  r collab.workflow_runs;
  job_ids uuid[];
  reason text := case when status = 'cancelled' then 'cancelled: the run was cancelled'
                      else 'cancelled: the run failed' end;
begin
  select * into r from collab.workflow_runs x where x.id = _stop_run.run_id;
  with stopped as (
    update collab.workflow_step_runs s
       set status = 'cancelled', error = reason, completed_at = now(), updated_at = now()
     where s.run_id = r.id
       and (s.status in ('queued', 'running', 'waiting') or (_stop_run.status = 'cancelled' and s.status = 'pending'))
    returning s.step_id, s.job_id, s.type
  ), logged as (
    insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
    select r.id, r.executor_id, 'step_cancelled',
           jsonb_strip_nulls(jsonb_build_object('run_id', r.id, 'step_id', t.step_id, 'job_id', t.job_id,
                                                'error', reason)), r.id
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

-- Create a run of a published workflow (no caller check: the callers check), or return
-- the run that (workflow, idempotency_key) already names. { run, created }.
create function collab._start_run(w collab.workflows, input jsonb, idempotency_key text,
                                  trigger_type text, schedule_id uuid default null)
  returns jsonb
  language plpgsql set search_path = ''
as $$
#variable_conflict use_column
declare
  r collab.workflow_runs;
begin
  if w.status <> 'published' then
    perform collab._raise('CL412', format('cannot start workflow %s: it is %s (only published workflows run)',
                                          w.id, w.status));
  end if;
  insert into collab.workflow_runs as x (workflow_id, workflow_version, executor_id, trigger_type, input,
                                         idempotency_key, schedule_id)
  values (w.id, w.version, w.executor_id, _start_run.trigger_type, _start_run.input,
          _start_run.idempotency_key, _start_run.schedule_id)
  on conflict (workflow_id, idempotency_key) where idempotency_key is not null do nothing
  returning x.* into r;
  if not found then
    -- The key names a run already (perhaps committed a moment ago by a concurrent start):
    -- this statement's snapshot sees it.
    select * into r from collab.workflow_runs x
     where x.workflow_id = w.id and x.idempotency_key = _start_run.idempotency_key;
    if r.input is distinct from _start_run.input then
      perform collab._raise('CL409', format(
        'idempotency_key %s was already used for run %s of workflow %s with a different input',
        quote_literal(_start_run.idempotency_key), r.id, w.id));
    end if;
    return jsonb_build_object('run', to_jsonb(r), 'created', false);
  end if;

  insert into collab.workflow_step_runs (run_id, step_id, executor_id, type, kind, position, predecessors,
                                         config, max_attempts)
  select r.id, n.v ->> 'id', w.executor_id, n.v ->> 'type',
         coalesce((select s.kind from collab.step_types s
                    where s.name = n.v ->> 'type' and s.executor_id in ('*', w.executor_id)
                    order by s.executor_id = '*' desc limit 1), 'job'),
         n.ord - 1,
         coalesce((select array_agg(distinct e.v ->> 'source')
                     from jsonb_array_elements(coalesce(nullif(w.definition -> 'edges', 'null'::jsonb), '[]'::jsonb)) as e (v)
                    where e.v ->> 'target' = n.v ->> 'id'), '{}'),
         case when jsonb_typeof(n.v -> 'data' -> 'config') = 'object' then n.v -> 'data' -> 'config'
              when jsonb_typeof(n.v -> 'data') = 'object' then n.v -> 'data'
              else '{}'::jsonb end,
         coalesce((n.v -> 'data' ->> 'max_attempts')::integer, 3)
    from jsonb_array_elements(w.definition -> 'nodes') with ordinality as n (v, ord);

  perform collab._run_event(r, 'run_pending', jsonb_build_object(
    'workflow_version', r.workflow_version, 'trigger_type', r.trigger_type,
    'idempotency_key', r.idempotency_key,
    'steps', (select jsonb_object_agg(s.step_id, s.type) from collab.workflow_step_runs s where s.run_id = r.id)));
  perform collab._advance_run(r.id);
  select * into r from collab.workflow_runs x where x.id = r.id;
  return jsonb_build_object('run', to_jsonb(r), 'created', true);
end
$$;

-- Start a run of a published workflow with `input` (a JSON object, checked against the
-- workflow's input_schema). Idempotent on (workflow, idempotency_key): the same key
-- returns the existing run (created false), also under concurrent starts; the same key
-- with another input is CL409. { run, created }.
create function collab.start_run_v1(workflow_id uuid, input jsonb default '{}'::jsonb,
                                    idempotency_key text default null)
  returns jsonb
  language plpgsql security definer set search_path = ''
as $$
declare
  w collab.workflows;
begin
  if idempotency_key is not null and char_length(idempotency_key) not between 1 and 255 then
    perform collab._raise('CL400', 'idempotency_key must be 1-255 characters');
  end if;
  if workflow_id is null then
    perform collab._raise('CL400', 'workflow_id is required');
  end if;
  select * into w from collab.workflows x where x.id = start_run_v1.workflow_id;
  if not found or not collab._caller_can_see(w.executor_id) then
    perform collab._raise('CL404', format('workflow %s not found', workflow_id));
  end if;
  perform collab._require_member(w.executor_id, '{client,worker,admin}');
  perform collab._check_run_input(w, coalesce(input, '{}'::jsonb));
  return collab._start_run(w, coalesce(input, '{}'::jsonb), idempotency_key, 'manual');
end
$$;

-- ---------------------------------------------------------------------------------
-- The jobs triggers. A plain job never enters PL/pgSQL here: the row trigger's WHEN
-- clause admits only workflow jobs whose status or attempts change, and the statement
-- trigger's WHEN clause reads the flag that row trigger sets.

create function collab._jobs_workflow_flag() returns trigger
  language plpgsql set search_path = ''
as $$
begin
  perform set_config('collab.workflow_jobs', 'on', true);
  return new;
end
$$;

create function collab._jobs_workflow_after_update() returns trigger
  language plpgsql security definer set search_path = '' set enable_nestloop = off
as $$
declare
  run_ids uuid[];
  orphans uuid[];
  rid uuid;
  r collab.workflow_runs;
  d record;
begin
  perform set_config('collab.workflow_jobs', '', true);

  -- Claims (also of expired leases) and scheduled retries: the step follows its job. The
  -- step rows are locked in key order first; no run lock (see the header).
  perform 1
     from collab.workflow_step_runs s
     join new_rows n on n.id = s.job_id and n.workflow_run_id = s.run_id and n.workflow_step_id = s.step_id
     join old_rows o on o.id = n.id
    where (n.status = 'running' and n.attempts > o.attempts) or (o.status = 'running' and n.status = 'queued')
    order by s.run_id, s.step_id
      for update of s;
  with moved as (
    update collab.workflow_step_runs s
       set status = n.status,
           attempts = s.attempts + case when n.status = 'running' then 1 else 0 end,
           started_at = case when n.status = 'running' then now() else s.started_at end,
           error = case when n.status = 'queued' then left(n.last_error, 16384) else s.error end,
           updated_at = now()
      from new_rows n join old_rows o on o.id = n.id
     where n.id = s.job_id and n.workflow_run_id = s.run_id and n.workflow_step_id = s.step_id
       and s.status in ('queued', 'running')
       and ((n.status = 'running' and n.attempts > o.attempts) or (o.status = 'running' and n.status = 'queued'))
    returning s.run_id, s.step_id, s.executor_id, s.status, s.job_id, n.attempts, n.lease_owner,
              n.last_error, n.next_run_at
  )
  insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
  select m.run_id, m.executor_id, 'step_' || m.status,
         case when m.status = 'running'
              then jsonb_build_object('run_id', m.run_id, 'step_id', m.step_id, 'job_id', m.job_id,
                                      'attempt', m.attempts, 'worker_id', m.lease_owner)
              else jsonb_build_object('run_id', m.run_id, 'step_id', m.step_id, 'job_id', m.job_id,
                                      'attempt', m.attempts, 'error', left(m.last_error, 2000),
                                      'next_run_at', m.next_run_at) end,
         m.run_id
    from moved m order by m.run_id, m.step_id;

  -- A job claimed while its step is no longer active (the run was cancelled or failed
  -- while the claim held the job) is cancelled now: the worker's next extend or complete
  -- is refused (lease lost).
  select array_agg(n.id) into orphans
    from new_rows n join old_rows o on o.id = n.id
   where n.workflow_run_id is not null and n.status = 'running' and n.attempts > o.attempts
     and not exists (select 1 from collab.workflow_step_runs s
                      where s.run_id = n.workflow_run_id and s.step_id = n.workflow_step_id
                        and s.job_id = n.id and s.status = 'running');
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
    from new_rows n join old_rows o on o.id = n.id
    join collab.workflow_step_runs s on s.run_id = n.workflow_run_id and s.step_id = n.workflow_step_id
                                     and s.job_id = n.id
   where n.status in ('succeeded', 'failed', 'cancelled') and o.status <> n.status
     and s.status in ('queued', 'running');
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
        from new_rows n join old_rows o on o.id = n.id
       where s.run_id = rid and n.workflow_run_id = rid and s.step_id = n.workflow_step_id and s.job_id = n.id
         and s.status in ('queued', 'running')
         and n.status in ('succeeded', 'failed', 'cancelled') and o.status <> n.status
      returning s.step_id, s.status, s.output, s.error, s.job_id
    ), logged as (
      insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
      select rid, r.executor_id, 'step_' || t.status,
             jsonb_build_object('run_id', rid, 'step_id', t.step_id, 'job_id', t.job_id)
             || case when t.status <> 'succeeded' then jsonb_build_object('error', left(t.error, 2000))
                     when octet_length(coalesce(t.output, 'null'::jsonb)::text) <= 65536
                       then jsonb_build_object('output', t.output)
                     else '{"output_truncated": true}'::jsonb end,
             rid
        from done t order by t.step_id
    )
    select count(*) as n,
           coalesce(jsonb_object_agg(t.step_id, t.output) filter (where t.status = 'succeeded'), '{}'::jsonb) as outputs,
           (array_agg(format('step %s %s: %s', t.step_id, case when t.status = 'failed' then 'failed' else 'was cancelled' end, t.error)
                      order by t.step_id) filter (where t.status <> 'succeeded'))[1] as failure
      into d
      from done t;
    continue when d.n = 0 or r.status not in ('pending', 'running', 'paused');
    if d.outputs <> '{}'::jsonb then
      update collab.workflow_runs u set context = u.context || d.outputs, updated_at = now() where u.id = rid;
    end if;
    if d.failure is not null then
      perform collab._stop_run(rid, 'failed', d.failure);
    else
      perform collab._advance_run(rid);
    end if;
  end loop;
  return null;
end
$$;

-- A queued or running job of a workflow step is not deleted from under its run.
create function collab._jobs_workflow_before_delete() returns trigger
  language plpgsql set search_path = ''
as $$
begin
  perform collab._raise('CL412', format('cannot delete job %s: it is step %s of run %s; cancel the run (cancel_run_v1) instead',
                                        old.id, old.workflow_step_id, old.workflow_run_id));
  return null;
end
$$;

create trigger jobs_workflow_flag before update on collab.jobs
  for each row
  when (new.workflow_run_id is not null and (new.status <> old.status or new.attempts <> old.attempts))
  execute function collab._jobs_workflow_flag();

create trigger jobs_workflow_after_update after update on collab.jobs
  referencing old table as old_rows new table as new_rows
  for each statement
  when (current_setting('collab.workflow_jobs', true) = 'on')
  execute function collab._jobs_workflow_after_update();

create trigger jobs_workflow_before_delete before delete on collab.jobs
  for each row
  when (old.workflow_run_id is not null and old.status in ('queued', 'running'))
  execute function collab._jobs_workflow_before_delete();

-- ---------------------------------------------------------------------------------
-- Reads (SECURITY INVOKER: row-level security decides; a run the caller cannot see is
-- CL404).

create function collab._require_visible_run(run_id uuid) returns void
  language plpgsql stable set search_path = ''
as $$
begin
  if not exists (select 1 from collab.workflow_runs r where r.id = _require_visible_run.run_id) then
    perform collab._raise('CL404', format('run %s not found', run_id));
  end if;
end
$$;

create function collab.get_run_v1(run_id uuid)
  returns setof collab.workflow_runs
  language plpgsql stable set search_path = ''
as $$
begin
  perform collab._require_visible_run(run_id);
  return query select * from collab.workflow_runs r where r.id = get_run_v1.run_id;
end
$$;

-- The run's steps in definition order.
create function collab.run_steps_v1(run_id uuid)
  returns setof collab.workflow_step_runs
  language plpgsql stable set search_path = ''
as $$
begin
  perform collab._require_visible_run(run_id);
  return query select * from collab.workflow_step_runs s where s.run_id = run_steps_v1.run_id
                order by s.position, s.step_id;
end
$$;

-- Newest runs first: { items, count, nextCursor }, as jobs_recent_v1. Filters optional.
create function collab.runs_v1(
  workflow_id uuid default null, executor_id text default null, status text default null,
  page_size integer default 20, cursor text default null)
  returns jsonb
  language plpgsql stable set search_path = '' set plan_cache_mode = force_custom_plan
as $$
declare
  c record;
  rows jsonb;
  n integer;
begin
  perform collab._check_range('page_size', page_size, 1, 1000);
  if status is not null and status not in ('pending', 'running', 'paused', 'succeeded', 'failed', 'cancelled') then
    perform collab._raise('CL400', 'status must be pending, running, paused, succeeded, failed or cancelled');
  end if;
  c := collab._cursor_decode(cursor);
  select coalesce(jsonb_agg(to_jsonb(p) order by p.created_at desc, p.id desc), '[]'::jsonb), count(*)
    into rows, n
    from (select * from collab.workflow_runs r
           where (runs_v1.workflow_id is null or r.workflow_id = runs_v1.workflow_id)
             and (runs_v1.executor_id is null or r.executor_id = runs_v1.executor_id)
             and (runs_v1.status is null or r.status = runs_v1.status)
             and (c.ts is null
                  or (c.id is null and r.created_at < c.ts)
                  or (c.id is not null and (r.created_at, r.id) < (c.ts, c.id)))
           order by r.created_at desc, r.id desc
           limit page_size + 1) p;
  return collab._page(rows, n, page_size);
end
$$;

-- Events of one run after `after_seq`, gapless and in seq order, exactly as
-- job_events_after_v1 (same answer shape, cursor and horizon).
create function collab.run_events_after_v1(
  run_id uuid, after_seq bigint default 0, page_size integer default 1000,
  horizon_seq bigint default null, horizon_xid text default null)
  returns jsonb
  language plpgsql volatile set search_path = ''
as $$
declare
  h record;
  page jsonb;
  n integer;
  last_seq bigint;
begin
  perform collab._check_range('page_size', page_size, 1, 10000);
  if coalesce(after_seq, 0) < 0 then
    perform collab._raise('CL400', format('after_seq must be >= 0 (got %s)', after_seq));
  end if;
  if run_id is null then
    perform collab._raise('CL400', 'run_id is required');
  end if;
  perform collab._require_visible_run(run_id);
  begin
    h := collab._event_horizon(after_seq, horizon_seq, horizon_xid::xid8);
  exception when invalid_text_representation then
    perform collab._raise('CL400', format('invalid horizon_xid %s', quote_literal(left(horizon_xid, 40))));
  end;
  select coalesce(jsonb_agg(to_jsonb(e) - 'xact_id' order by e.seq), '[]'::jsonb), count(*), max(e.seq)
    into page, n, last_seq
    from (select * from collab.job_events x
           where x.run_id = run_events_after_v1.run_id
             and x.seq > coalesce(run_events_after_v1.after_seq, 0) and x.seq <= h.safe_seq
           order by x.seq
           limit page_size) e;
  return jsonb_build_object(
    'events', page,
    'cursor', case when n = page_size then last_seq else h.safe_seq end,
    'horizon', case when h.next_horizon_seq is null then null
                    else jsonb_build_object('seq', h.next_horizon_seq,
                                            'xid', h.next_horizon_xid::text) end,
    'more', n = page_size);
end
$$;

-- { run, steps, cursor }: the run and its steps as they are, and a seq to follow its
-- events from (run_events_after_v1 after_seq => cursor). Every event up to the cursor is
-- reflected in run and steps; later ones may be too (applying them again changes nothing).
create function collab.run_snapshot_v1(run_id uuid)
  returns jsonb
  language plpgsql volatile set search_path = ''
as $$
declare
  head bigint;
begin
  perform collab._require_visible_run(run_id);
  head := collab.job_events_head_v1();  -- first: the reads below see everything up to it
  return jsonb_build_object(
    'run', (select to_jsonb(r) from collab.workflow_runs r where r.id = run_snapshot_v1.run_id),
    'steps', coalesce((select jsonb_agg(to_jsonb(s) order by s.position, s.step_id)
                         from collab.workflow_step_runs s where s.run_id = run_snapshot_v1.run_id), '[]'::jsonb),
    'cursor', head);
end
$$;
