-- collab: exact job counts that cost O(executors x types x states) to read, kept by a
-- statement-level trigger on collab.jobs (docs/dashboard.md, "Counts on big tables").
--
-- A counter row per (executor, status) updated by every claim and complete would
-- serialise concurrent workers on that row. Instead every statement that inserts,
-- updates or deletes jobs *appends* its net change, one row per (executor, type, status,
-- minute) it moved, to `job_count_deltas` (no index, no key: writers never meet), and
-- the deltas are folded into `job_counts` now and then (by a writer's statement, 1 in 512
-- at random, if no other fold is running: `pg_try_advisory_xact_lock`). A read sums both
-- tables in one snapshot, and a fold moves rows from one to the other in one transaction,
-- so a read is exact whenever it happens. The trigger reads only the transition tables:
-- it does not depend on which function changed the jobs (claims, completes, fails,
-- retries, cancels, deletes, purges, expired leases, the DLQ, a direct UPDATE).
--
-- `minute` is the minute a job finished (succeeded, failed, cancelled) for the last three
-- hours, '-infinity' otherwise and once older: the same rows answer "how many jobs are
-- succeeded now" (every minute) and "how many succeeded in each of the last 60 minutes"
-- (the dashboard's throughput chart), both exact, as `count(*) ... group by` on the
-- table would be. A fold rolls minutes older than three hours into '-infinity'.

create table collab.job_counts (
  executor_id text        not null,
  type        text        not null,
  status      text        not null,
  minute      timestamptz not null,
  n           bigint      not null,
  primary key (executor_id, type, status, minute)
);
comment on table collab.job_counts is
  'Folded job counts by executor, type, status and finish minute (-infinity: not per minute); add job_count_deltas';

create table collab.job_count_deltas (
  executor_id text        not null,
  type        text        not null,
  status      text        not null,
  minute      timestamptz not null,
  n           bigint      not null
);
comment on table collab.job_count_deltas is
  'Net count changes appended by each statement on collab.jobs, not yet folded into job_counts';
-- Deleted by every fold: vacuum it often so reads scan few dead rows.
alter table collab.job_count_deltas set (autovacuum_vacuum_threshold = 500,
                                         autovacuum_vacuum_scale_factor = 0);

alter table collab.job_counts enable row level security;
alter table collab.job_count_deltas enable row level security;
create policy job_counts_read_member on collab.job_counts
  for select to authenticated
  using (executor_id in (select m.executor_id from collab.executor_members m
                         where m.user_id = (select auth.uid())));
create policy job_count_deltas_read_member on collab.job_count_deltas
  for select to authenticated
  using (executor_id in (select m.executor_id from collab.executor_members m
                         where m.user_id = (select auth.uid())));
grant select on collab.job_counts, collab.job_count_deltas to authenticated;
grant all on collab.job_counts, collab.job_count_deltas to service_role;

-- Fold every visible delta into job_counts, unless another fold is running (then 0).
-- Read committed only: a repeatable-read writer would see deltas a later fold already
-- moved and fail with a serialization error, so its statements leave the fold to others.
create function collab._fold_job_counts() returns bigint
  language plpgsql security definer set search_path = ''
as $$
declare
  moved bigint;
begin
  if current_setting('transaction_isolation') <> 'read committed'
     or not pg_try_advisory_xact_lock(6176005410530163404) then
    return 0;
  end if;
  with gone as (
    delete from collab.job_count_deltas returning executor_id, type, status, minute, n
  ), aged as (
    delete from collab.job_counts c
     where c.minute > '-infinity' and c.minute < now() - interval '3 hours'
    returning executor_id, type, status, minute, n
  ), folded as (
    insert into collab.job_counts as c (executor_id, type, status, minute, n)
    select x.executor_id, x.type, x.status,
           case when x.minute < now() - interval '3 hours' then '-infinity' else x.minute end,
           sum(x.n)
      from (select * from gone union all select * from aged) x
     group by 1, 2, 3, 4
    on conflict (executor_id, type, status, minute) do update set n = c.n + excluded.n
  )
  select count(*) into moved from gone;
  delete from collab.job_counts c where c.n = 0;
  return moved;
end
$$;

-- The statement trigger: one delta row per (executor, type, status, minute) the
-- statement changed, then a fold once in a while. Security definer: a service_role
-- client writing collab.jobs directly may not write the count tables itself.
create function collab._jobs_count_changes() returns trigger
  language plpgsql security definer set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    insert into collab.job_count_deltas (executor_id, type, status, minute, n)
    select r.executor_id, r.type, r.status,
           case when r.finished_at is null or r.status not in ('succeeded', 'failed', 'cancelled')
                then '-infinity' else date_bin('1 minute', r.finished_at, timestamptz 'epoch') end,
           count(*)
      from new_rows r group by 1, 2, 3, 4;
  elsif tg_op = 'DELETE' then
    insert into collab.job_count_deltas (executor_id, type, status, minute, n)
    select r.executor_id, r.type, r.status,
           case when r.finished_at is null or r.status not in ('succeeded', 'failed', 'cancelled')
                then '-infinity' else date_bin('1 minute', r.finished_at, timestamptz 'epoch') end,
           -count(*)
      from old_rows r group by 1, 2, 3, 4;
  else
    -- Rows whose key did not change (a lease extension) cancel out and add nothing.
    insert into collab.job_count_deltas (executor_id, type, status, minute, n)
    select r.executor_id, r.type, r.status,
           case when r.finished_at is null or r.status not in ('succeeded', 'failed', 'cancelled')
                then '-infinity' else date_bin('1 minute', r.finished_at, timestamptz 'epoch') end,
           sum(r.d)
      from (select n.executor_id, n.type, n.status, n.finished_at, 1 as d from new_rows n
            union all
            select o.executor_id, o.type, o.status, o.finished_at, -1 from old_rows o) r
     group by 1, 2, 3, 4
    having sum(r.d) <> 0;
  end if;
  if random() < 1.0 / 512 then
    perform collab._fold_job_counts();
  end if;
  return null;
end
$$;

-- TRUNCATE has no transition table: it empties the counts too.
create function collab._jobs_count_truncate() returns trigger
  language plpgsql security definer set search_path = ''
as $$
begin
  delete from collab.job_count_deltas;
  delete from collab.job_counts;
  return null;
end
$$;

-- No write may slip between the backfill and the triggers: the lock, the triggers and the
-- backfill are one statement (a DO block), because the supabase CLI runs a migration's
-- statements one by one with no transaction around them, and LOCK needs one.
do $$
begin
  lock table collab.jobs in share row exclusive mode;

  create trigger jobs_count_insert after insert on collab.jobs
    referencing new table as new_rows
    for each statement execute function collab._jobs_count_changes();
  create trigger jobs_count_update after update on collab.jobs
    referencing old table as old_rows new table as new_rows
    for each statement execute function collab._jobs_count_changes();
  create trigger jobs_count_delete after delete on collab.jobs
    referencing old table as old_rows
    for each statement execute function collab._jobs_count_changes();
  create trigger jobs_count_truncate after truncate on collab.jobs
    for each statement execute function collab._jobs_count_truncate();

  insert into collab.job_counts (executor_id, type, status, minute, n)
  select j.executor_id, j.type, j.status,
         case when j.finished_at is null or j.status not in ('succeeded', 'failed', 'cancelled')
                   or j.finished_at < now() - interval '3 hours'
              then '-infinity' else date_bin('1 minute', j.finished_at, timestamptz 'epoch') end,
         count(*)
    from collab.jobs j group by 1, 2, 3, 4;
end
$$;

-- The counts the caller may see (RLS), by executor, type, status and minute: what a read
-- of both tables in one snapshot sums to. Invoker, in collab_private (not an endpoint).
create function collab_private._job_counts(of_executor text default null, of_type text default null)
  returns table (executor_id text, type text, status text, minute timestamptz, n bigint)
  language plpgsql stable set search_path = ''
as $$
begin
  return query
    select x.executor_id, x.type, x.status, x.minute, sum(x.n)::bigint
      from (select c.executor_id, c.type, c.status, c.minute, c.n from collab.job_counts c
             where (of_executor is null or c.executor_id = of_executor)
               and (of_type is null or c.type = of_type)
            union all
            select d.executor_id, d.type, d.status, d.minute, d.n from collab.job_count_deltas d
             where (of_executor is null or d.executor_id = of_executor)
               and (of_type is null or d.type = of_type)) x
     group by 1, 2, 3, 4
    having sum(x.n) <> 0;
end
$$;
revoke all on function collab_private._job_counts(text, text) from public;
grant execute on function collab_private._job_counts(text, text) to authenticated, service_role;

-- Counts by status, also under the seeds' names (pending, claimed, completed): now from
-- the kept counts, exact and cheap (was a count(*) of the executor's jobs). `type`
-- narrows them to one job type.
create function collab.stats_v2(executor_id text default null, type text default null)
  returns jsonb
  language plpgsql stable set search_path = ''
as $$
declare
  s record;
begin
  select coalesce(sum(c.n) filter (where c.status = 'queued'), 0) as queued,
         coalesce(sum(c.n) filter (where c.status = 'running'), 0) as running,
         coalesce(sum(c.n) filter (where c.status = 'succeeded'), 0) as succeeded,
         coalesce(sum(c.n) filter (where c.status = 'failed'), 0) as failed,
         coalesce(sum(c.n) filter (where c.status = 'cancelled'), 0) as cancelled,
         coalesce(sum(c.n), 0) as total
    into s
    from collab_private._job_counts(stats_v2.executor_id, stats_v2.type) c;
  return jsonb_build_object(
    'queued', s.queued, 'running', s.running, 'succeeded', s.succeeded,
    'failed', s.failed, 'cancelled', s.cancelled, 'total', s.total,
    'pending', s.queued, 'claimed', s.running, 'completed', s.succeeded);
end
$$;
comment on function collab.stats_v2(text, text) is
  'Exact job counts by status of an executor (and type), from the kept counts; RLS applies';

-- stats_v1 keeps its contract and answers from the kept counts.
create or replace function collab.stats_v1(executor_id text default null)
  returns jsonb
  language plpgsql stable set search_path = ''
as $$
begin
  return collab.stats_v2(stats_v1.executor_id);
end
$$;

-- Jobs that succeeded and failed in each of the last `minutes` minutes (oldest first,
-- the current minute last, zeros included), from the kept counts.
create function collab.throughput_v1(executor_id text default null, minutes integer default 60)
  returns table (minute timestamptz, succeeded bigint, failed bigint)
  language plpgsql stable set search_path = ''
as $$
declare
  last_minute timestamptz := date_bin('1 minute', now(), timestamptz 'epoch');
begin
  perform collab_private._check_range('minutes', minutes, 1, 120);
  return query
    select m.minute,
           coalesce(sum(c.n) filter (where c.status = 'succeeded'), 0)::bigint,
           coalesce(sum(c.n) filter (where c.status = 'failed'), 0)::bigint
      from generate_series(last_minute - make_interval(mins => minutes - 1), last_minute,
                           interval '1 minute') as m (minute)
      left join collab_private._job_counts(throughput_v1.executor_id) c
        on c.minute = m.minute and c.status in ('succeeded', 'failed')
     group by m.minute
     order by m.minute;
end
$$;
comment on function collab.throughput_v1(text, integer) is
  'Succeeded and failed jobs per minute over the last minutes (default 60), from the kept counts; RLS applies';

-- The dashboard overview, cheap at any size: counts, by type and throughput from the
-- kept counts (the last N minutes are the finish-minute buckets overlapping them);
-- queue wait and run time p50/p95 of the last 1,000 jobs finished in the hour (an index
-- scan of jobs_finished_idx from its end, not every job of the hour). Same shape as
-- before.
create or replace function collab.metrics_overview_v1(executor_id text default null)
  returns jsonb
  language plpgsql stable set search_path = ''
as $$
declare
  ex text := metrics_overview_v1.executor_id;
begin
  return (
    with counts as materialized (
      select * from collab_private._job_counts(ex)
    ), finished as (
      select c.minute, c.n from counts c
       where c.status in ('succeeded', 'failed', 'cancelled') and c.minute > '-infinity'
    ), recent as materialized (
      select j.created_at, j.started_at, j.finished_at, j.status, j.attempts
        from collab.jobs j
       where j.finished_at > now() - interval '60 minutes'
         and (ex is null or j.executor_id = ex)
       order by j.finished_at desc
       limit 1000
    )
    select jsonb_build_object(
      'generatedAt', now(),
      'byStatus', collab.stats_v2(ex),
      'byType', coalesce((
        select jsonb_object_agg(t.type, t.counts) from (
          select s.type, jsonb_object_agg(s.status, s.n) as counts
            from (select c.type, c.status, sum(c.n) as n from counts c
                   group by c.type, c.status having sum(c.n) <> 0) s
           group by s.type) t), '{}'::jsonb),
      'finished', jsonb_build_object(
        'last1m', (select coalesce(sum(f.n), 0) from finished f where f.minute > now() - interval '2 minutes'),
        'last5m', (select coalesce(sum(f.n), 0) from finished f where f.minute > now() - interval '6 minutes'),
        'last60m', (select coalesce(sum(f.n), 0) from finished f where f.minute > now() - interval '61 minutes')),
      'queueWaitMs', (
        select jsonb_build_object(
          'p50', percentile_cont(0.5) within group (order by w),
          'p95', percentile_cont(0.95) within group (order by w))
          from (select extract(epoch from started_at - created_at) * 1000 as w
                  from recent where started_at is not null and attempts = 1) q),
      'runTimeMs', (
        select jsonb_build_object(
          'p50', percentile_cont(0.5) within group (order by r),
          'p95', percentile_cont(0.95) within group (order by r))
          from (select extract(epoch from finished_at - started_at) * 1000 as r
                  from recent where started_at is not null and status = 'succeeded') q),
      'dlq', jsonb_build_object(
        'size', (select count(*) from collab.job_dead_letters d
                  where d.retried_at is null and (ex is null or d.executor_id = ex)),
        'total', (select count(*) from collab.job_dead_letters d
                   where ex is null or d.executor_id = ex)),
      'activeWorkers', (select count(*) from collab.workers_active_v1(20, ex))));
end
$$;

revoke all on function collab.stats_v2(text, text) from public;
revoke all on function collab.throughput_v1(text, integer) from public;
grant execute on function collab.stats_v2(text, text) to authenticated, service_role;
grant execute on function collab.throughput_v1(text, integer) to authenticated, service_role;

-- Only the triggers above run these; nobody calls them directly.
revoke all on function collab._fold_job_counts() from public;
revoke all on function collab._jobs_count_changes() from public;
revoke all on function collab._jobs_count_truncate() from public;
