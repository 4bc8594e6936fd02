-- collab workflows: the queue's own event triggers tag a step job's events with its run.
--
-- Since 20261203020000 a run's `step_queued`, `step_running` and `step_succeeded` are its
-- step jobs' own `queued`, `claimed` / `retry_scheduled` and `succeeded` rows of
-- collab.job_events, tagged with the run's id (and, since 20261203040000, the step's id in
-- the payload) by `job_events_step_run`: a BEFORE INSERT row trigger on collab.job_events
-- that looked the job up again (a PL/pgSQL call and a `jobs` probe, 2.75 a diamond step),
-- armed by a transaction-local flag (`collab.step_events`) that three workflow triggers set.
--
-- The rows the queue's triggers log from (`new_rows` of collab.jobs) already hold
-- `workflow_run_id` and `workflow_step_id`. `_jobs_after_insert` and `_jobs_after_update`
-- now write `run_id` and the payload's `step_id` themselves, for exactly the rows the
-- old trigger tagged (a step job's `queued`, `claimed`, `retry_scheduled` and
-- `succeeded`); the row trigger and its flag go. A plain job's event is built as before
-- (one more `is null` test a row). Every event's columns and payload are unchanged.
--
-- `_jobs_after_insert` also calls `_notify_claimable` only when a row is claimable now
-- (as `_jobs_after_update` does): a call of a function with a SET clause for nothing
-- when every inserted job is delayed.
--
-- As in 20261202060000, the replacement and the drop are one statement (a DO block) with
-- collab.jobs locked, because the supabase CLI runs a migration's statements one by one.

do $migration$
begin
  lock table collab.jobs in share row exclusive mode;

  -- As 20261202060000 left it, plus the step job's run and step.
  create or replace function collab._jobs_after_insert() returns trigger
    language plpgsql security definer set search_path = ''
  as $fn$
  declare
    woken text[];
  begin
    with logged as (
      insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
      select n.id, n.executor_id, 'queued',
             case when n.workflow_step_id is null
                  then jsonb_build_object('type', n.type, 'priority', n.priority, 'run_at', n.next_run_at)
                  else jsonb_build_object('type', n.type, 'priority', n.priority, 'run_at', n.next_run_at,
                                          'step_id', n.workflow_step_id) end,
             n.workflow_run_id
        from new_rows n
    )
    insert into collab.job_count_deltas (executor_id, type, status, minute, n)
    select r.executor_id, r.type, r.status,
           case when r.finished_at is null or r.status not in ('succeeded', 'failed', 'cancelled')
                then '-infinity' else date_bin('1 minute', r.finished_at, timestamptz 'epoch') end,
           count(*)
      from new_rows r group by 1, 2, 3, 4;
    select array_agg(distinct n.executor_id) into woken from new_rows n where n.next_run_at <= now();
    if woken is not null then
      perform collab._notify_claimable(woken);
    end if;
    if random() < 1.0 / 512 then
      perform collab._fold_job_counts();
    end if;
    return null;
  end
  $fn$;

  -- As 20261203010000 left it, plus the step job's run and step on the four events a
  -- run's log reads (run_events_after_v1); `failed`, `cancelled` and `retried` of a step
  -- job stay untagged, as before (the run logs its own step_failed / step_cancelled).
  create or replace function collab._jobs_after_update() returns trigger
    language plpgsql security definer set search_path = '' set enable_nestloop = off
  as $fn$
  declare
    woken text[];
  begin
    with changed as materialized (
      select n.id, n.executor_id, n.status, n.next_run_at, o.status as old_status,
             n.workflow_run_id, n.workflow_step_id,
             case
               when n.status = 'running' and n.attempts > o.attempts then 'claimed'
               when o.status = 'running' and n.status = 'succeeded' then 'succeeded'
               when o.status = 'running' and n.status = 'queued' then 'retry_scheduled'
               when o.status <> 'failed' and n.status = 'failed' then 'failed'
               when o.status <> 'cancelled' and n.status = 'cancelled' then 'cancelled'
               when o.status in ('succeeded', 'failed', 'cancelled') and n.status = 'queued' then 'retried'
             end as event_type,
             case
               when n.status = 'running' then
                 jsonb_build_object('attempt', n.attempts, 'worker_id', n.lease_owner,
                                    'lease_until', n.lease_until, 'previous_status', o.status)
               when n.status = 'queued' and o.status = 'running' then
                 jsonb_build_object('attempt', n.attempts, 'error', left(n.last_error, 2000),
                                    'next_run_at', n.next_run_at)
               when n.status = 'failed' then
                 jsonb_build_object('attempt', n.attempts, 'error', left(n.last_error, 2000))
               else
                 jsonb_build_object('attempt', n.attempts, 'previous_status', o.status)
             end as payload
        from new_rows n join old_rows o on o.id = n.id
    ), logged as (
      insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
      select c.id, c.executor_id, c.event_type,
             case when c.workflow_step_id is null
                    or c.event_type not in ('claimed', 'retry_scheduled', 'succeeded') then c.payload
                  else c.payload || jsonb_build_object('step_id', c.workflow_step_id) end,
             case when c.event_type in ('claimed', 'retry_scheduled', 'succeeded') then c.workflow_run_id end
        from changed c where c.event_type is not null
       order by c.event_type = 'claimed', c.id
    ), counted as (
      insert into collab.job_count_deltas (executor_id, type, status, minute, n)
      select r.executor_id, r.type, r.status,
             case when r.finished_at is null or r.status not in ('succeeded', 'failed', 'cancelled')
                  then '-infinity' else date_bin('1 minute', r.finished_at, timestamptz 'epoch') end,
             sum(r.d)
        from (select n.executor_id, n.type, n.status, n.finished_at, 1 as d from new_rows n
              union all
              select o.executor_id, o.type, o.status, o.finished_at, -1 from old_rows o) r
       group by 1, 2, 3, 4
      having sum(r.d) <> 0
    )
    select array_agg(distinct c.executor_id) into woken
      from changed c
     where c.status = 'queued' and c.old_status <> 'queued' and c.next_run_at <= now();
    if woken is not null then
      perform collab._notify_claimable(woken);
    end if;
    if random() < 1.0 / 512 then
      perform collab._fold_job_counts();
    end if;
    return null;
  end
  $fn$;

  drop trigger job_events_step_run on collab.job_events;
  drop function collab._job_events_step_run();

  -- As 20261203020100 left it, without the `collab.step_events` flag.
  create or replace function collab._jobs_workflow_claimed() returns trigger
    language plpgsql set search_path = ''
  as $fn$
  begin
    if new.status = 'running' then
      -- collab_private._lock_run_claims(run, false), inline: a call of a function with
      -- a SET clause cost 13 us a claim (pg_stat_statements), the lock itself 1.6 us.
      perform pg_advisory_xact_lock_shared(1129078855, hashtext(new.workflow_run_id::text));
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
  $fn$;

  -- As 20261203020000 left it, without the `collab.step_events` flag.
  create or replace function collab._jobs_workflow_flag() returns trigger
    language plpgsql set search_path = ''
  as $fn$
  begin
    perform set_config('collab.workflow_jobs', 'on', true);
    return new;
  end
  $fn$;
end
$migration$;

-- As 20261203020300 left it, without the `collab.step_events` flag.
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
