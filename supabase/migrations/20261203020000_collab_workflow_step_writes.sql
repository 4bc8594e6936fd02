-- collab workflows: a step writes fewer rows and index entries (issue 13's step-cost target).
--
-- Measured first (EXPLAIN (ANALYZE, BUFFERS, WAL) and pg_stat_statements, track = all; see
-- bench/README.md "workflows.py"): the writes of a diamond step besides its job's claim
-- and complete were its step row twice (queued at enqueue, finished at complete), a
-- `step_queued` event per enqueued successor and a `step_succeeded` event per step (each
-- a heap row and three index entries), the run row's lock, and at the run's end the run
-- row and `run_succeeded`. Now:
--
-- 1. `step_queued` (a job step enqueued) and `step_succeeded` are no longer stored rows:
--    they are the step job's own `queued` and `succeeded` events, which the queue writes
--    anyway. Those rows now carry the run's id (as `claimed` and `retry_scheduled` do
--    since 20261202050100), and run_events_after_v1 answers them as the run's
--    `step_queued` / `step_succeeded` with the same seq order and payloads as before (a
--    job's `succeeded` is the step's only when the step succeeded with that job: the
--    success of a job whose step had already been cancelled is no step event).
--    `step_waiting`, `step_failed`, `step_cancelled`, `step_skipped` and the run's events
--    stay stored rows. The finishing transaction sends the run's watchers the hint that
--    the stored `step_succeeded` used to send.
-- 2. workflow_step_runs_job_idx is dropped: nothing looks a step up by its job alone
--    (every look-up is by run and step), and the index made the enqueue's step update
--    (which sets job_id) write a new entry in both indexes; without it both updates of a
--    step row can be HOT.
-- 3. workflow_step_runs and workflow_runs leave room on their pages (fillfactor) for
--    those HOT updates: a run's step rows are inserted together, so a full page sent
--    every update of a step or of its run row elsewhere, with new index entries.

drop index collab.workflow_step_runs_job_idx;
alter table collab.workflow_step_runs set (fillfactor = 50);
alter table collab.workflow_runs set (fillfactor = 70);

drop trigger job_events_step_run on collab.job_events;
create trigger job_events_step_run before insert on collab.job_events
  for each row
  when (new.run_id is null and new.event_type in ('queued', 'claimed', 'retry_scheduled', 'succeeded')
        and current_setting('collab.step_events', true) = 'on')
  execute function collab._job_events_step_run();

-- A step job's finish: also tags its `succeeded` event with the run (trigger above).
create or replace function collab._jobs_workflow_flag() returns trigger
  language plpgsql set search_path = ''
as $$
begin
  perform set_config('collab.workflow_jobs', 'on', true);
  perform set_config('collab.step_events', 'on', true);
  return new;
end
$$;

-- As 20261201052400 left it, but an enqueued step's `step_queued` is its job's `queued`
-- event (tagged with the run by the flag set here): only approval steps log `step_waiting`.
create or replace function collab._advance_run(run_id uuid) returns text
  language plpgsql set search_path = ''
as $$
declare
  r collab.workflow_runs;
  c record;
  queued integer;
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
  ), logged as (
    insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
    select r.id, r.executor_id, 'step_waiting',
           jsonb_build_object('run_id', r.id, 'step_id', m.step_id, 'type', m.type), r.id
      from moved m where m.status = 'waiting' order by m.step_id
  )
  select count(*) into queued from moved m where m.status = 'queued';
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

-- As 20261201052000 left it, but a succeeded step logs no row of its own (its job's
-- `succeeded` is its `step_succeeded`); the run's watchers get the hint that row sent.
create or replace function collab._jobs_workflow_after_update() returns trigger
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

  -- A job claimed while its step is no longer active (the run was cancelled or failed
  -- while the claim held the job) is cancelled now: the worker's next extend or complete
  -- is refused (lease lost).
  --
  -- The step rows are looked up by scalar subqueries (one index probe per job): this
  -- function runs with enable_nestloop off (for the transition tables' join), which
  -- would turn a join or a NOT EXISTS against workflow_step_runs into a hash join over
  -- the whole table (13 ms a step with 200,000 step rows). Only a claim flags an orphan.
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

  -- Finished jobs of active steps: lock their runs in id order, then settle each run.
  -- (A step that is not active for its job now never will be again: a retried run gives
  -- the step a new job. So the filter needs no lock.)
  select array_agg(distinct n.workflow_run_id order by n.workflow_run_id) into run_ids
    from new_rows n join old_rows o on o.id = n.id
   where n.status in ('succeeded', 'failed', 'cancelled') and o.status <> n.status
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
        from new_rows n join old_rows o on o.id = n.id
       where s.run_id = rid and n.workflow_run_id = rid and s.step_id = n.workflow_step_id and s.job_id = n.id
         and s.status = 'queued'
         and n.status in ('succeeded', 'failed', 'cancelled') and o.status <> n.status
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

-- ---------------------------------------------------------------------------------
-- 4. A claim of a step job no longer locks its step row FOR SHARE (a row lock is a write:
--    the tuple's xmax, a WAL record, a dirtied page, on every claim). What it waited for -
--    a transaction ending the run (cancel, or a failed step) that skipped this job because
--    the claim held it - now meets it on a transaction-level advisory lock per run: a
--    claim takes it shared (claims of one run never wait for each other), _stop_run takes
--    it exclusive before it changes any step. Either the stop waits for the claim's commit
--    and then finds the job running and unlocked (and cancels it), or the claim waits for
--    the stop's commit and then reads the step it left (and cancels its own job, as
--    before). Lock order is unchanged: both take it after what they held before (the
--    claim its job rows, the stop its run row). Two runs whose ids hash alike only share
--    a lock (a claim may wait for the other run's stop), never a result.
create function collab_private._lock_run_claims(run_id uuid, exclusive boolean) returns void
  language plpgsql set search_path = ''
as $$
begin
  -- The (int4, int4) key space: the queue's own advisory locks are bigint keys.
  if exclusive then
    perform pg_advisory_xact_lock(1129078855, hashtext(run_id::text));
  else
    perform pg_advisory_xact_lock_shared(1129078855, hashtext(run_id::text));
  end if;
end
$$;

revoke all on function collab_private._lock_run_claims(uuid, boolean) from public;
grant execute on function collab_private._lock_run_claims(uuid, boolean) to authenticated, service_role;

-- As 20261202050100 left it, but the step row is read under the run's claim lock, not
-- locked FOR SHARE.
create or replace function collab._jobs_workflow_claimed() returns trigger
  language plpgsql set search_path = ''
as $$
begin
  perform set_config('collab.step_events', 'on', true);
  if new.status = 'running' then
    perform collab_private._lock_run_claims(new.workflow_run_id, false);
    perform 1 from collab.workflow_step_runs s
     where s.run_id = new.workflow_run_id and s.step_id = new.workflow_step_id
       and s.job_id = new.id and s.status = 'queued';
    if not found then
      perform set_config('collab.workflow_jobs', 'on', true);
      perform set_config('collab.workflow_orphans', 'on', true);
    end if;
  end if;
  if collab._event_listeners_present() then
    -- As 20261202020000 made it: one hint per transaction, not one per claimed step.
    perform collab._hint_event_readers(array[new.executor_id], array[new.workflow_run_id::text]);
  end if;
  return new;
end
$$;


-- As 20261201052400 left it, plus the exclusive claim lock first.
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
  -- Waits for the claims of this run's step jobs in flight (see _jobs_workflow_claimed).
  perform collab_private._lock_run_claims(_stop_run.run_id, true);
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


-- 5. jobs_workflow_run_idx is dropped: run_events_after_v1 reads a run's events through
--    job_events_run_idx since 20261202050100, and nothing else looks step jobs up by run
--    (the steps name their jobs). A job update is never HOT (its status is in the queue's
--    indexes), so this index took a new entry at a step job's insert, claim and complete.
drop index collab.jobs_workflow_run_idx;

-- ---------------------------------------------------------------------------------
-- The run's log as before: a step job's `queued` is the run's `step_queued` (payload
-- run_id, step_id, type, job_id), its `succeeded` the run's `step_succeeded` (run_id,
-- step_id, job_id, output - or output_truncated past 64 KiB, as the stored row had) when
-- the step succeeded with that job; `claimed` and `retry_scheduled` as 20261202050100
-- made them. (A step that succeeded keeps its job and output for good - a retry resets
-- only failed and cancelled steps - so the answer for an event never changes.)
create or replace function collab.run_events_after_v1(run_id uuid, after_seq bigint default 0,
                                                    page_size integer default 1000,
                                                    horizon_seq bigint default null,
                                                    horizon_xid text default null)
  returns jsonb
  language plpgsql set search_path = ''
as $$
declare
  h record;
  page jsonb;
  n integer;
  last_seq bigint;
  rid uuid := run_events_after_v1.run_id;
  after bigint := coalesce(run_events_after_v1.after_seq, 0);
begin
  perform collab_private._check_range('page_size', page_size, 1, 10000);
  if after < 0 then
    perform collab_private._raise('CL400', format('after_seq must be >= 0 (got %s)', after_seq));
  end if;
  if rid is null then
    perform collab_private._raise('CL400', 'run_id is required');
  end if;
  perform collab_private._require_visible_run(rid);
  begin
    h := collab_private._event_horizon(after_seq, horizon_seq, horizon_xid::xid8);
  exception when invalid_text_representation then
    perform collab_private._raise('CL400', format('invalid horizon_xid %s', quote_literal(left(horizon_xid, 40))));
  end;
  select coalesce(jsonb_agg(e.event order by e.seq), '[]'::jsonb), count(*), max(e.seq)
    into page, n, last_seq
    from (select x.seq,
                 case when x.job_id = rid then to_jsonb(x) - 'xact_id'
                      else jsonb_build_object(
                             'seq', x.seq, 'job_id', rid, 'executor_id', x.executor_id,
                             'event_type', case x.event_type when 'claimed' then 'step_running'
                                                             when 'succeeded' then 'step_succeeded'
                                                             else 'step_queued' end,
                             'payload', jsonb_build_object('run_id', rid, 'step_id', j.workflow_step_id, 'job_id', j.id)
                                        || case x.event_type
                                             when 'queued' then jsonb_build_object('type', j.type)
                                             when 'succeeded' then
                                               case when octet_length(coalesce(s.output, 'null'::jsonb)::text) <= 65536
                                                    then jsonb_build_object('output', s.output)
                                                    else '{"output_truncated": true}'::jsonb end
                                             else x.payload - 'lease_until' - 'previous_status' end,
                             'created_at', x.created_at, 'run_id', rid) end as event
            from collab.job_events x
            left join collab.jobs j on j.id = x.job_id and x.job_id <> rid
            left join collab.workflow_step_runs s
                   on x.event_type = 'succeeded' and s.run_id = rid and s.step_id = j.workflow_step_id
           where x.run_id = rid and x.seq > after and x.seq <= h.safe_seq
             and (x.job_id = rid
                  or (j.workflow_run_id = rid
                      and (x.event_type = 'queued'
                           or (x.event_type = 'succeeded' and s.status = 'succeeded' and s.job_id = j.id)
                           or (x.event_type in ('claimed', 'retry_scheduled')
                               and not exists (select 1 from collab.job_events t
                                                where t.run_id = rid and t.job_id = rid and t.seq < x.seq
                                                  and t.event_type in ('step_succeeded', 'step_failed', 'step_cancelled')
                                                  and t.payload ->> 'job_id' = j.id::text)))))
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
