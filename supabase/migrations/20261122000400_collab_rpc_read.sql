-- collab: read RPCs. SECURITY INVOKER, so row-level security decides what each caller
-- sees: a user reads only its executors' rows; a job it cannot see is "not found".

-- Raise CL404 unless the caller can see job `job_id`.
create function collab._require_visible_job(job_id uuid) returns void
  language plpgsql stable set search_path = ''
as $$
begin
  if not exists (select 1 from collab.jobs j where j.id = _require_visible_job.job_id) then
    perform collab._raise('CL404', format('job %s not found', job_id));
  end if;
end
$$;

create function collab.get_job_v1(job_id uuid)
  returns setof collab.jobs
  language plpgsql stable set search_path = ''
as $$
begin
  perform collab._require_visible_job(job_id);
  return query select * from collab.jobs j where j.id = get_job_v1.job_id;
end
$$;

-- Events of a job with seq > after_seq, oldest first, at most page_size.
create function collab.events_by_job_v1(
  job_id uuid, after_seq bigint default 0, page_size integer default 1000)
  returns setof collab.job_events
  language plpgsql stable set search_path = ''
as $$
begin
  perform collab._check_range('page_size', page_size, 1, 10000);
  perform collab._require_visible_job(job_id);
  return query
    select * from collab.job_events e
     where e.job_id = events_by_job_v1.job_id and e.seq > coalesce(after_seq, 0)
     order by e.seq
     limit page_size;
end
$$;

create function collab.artifacts_by_job_v1(job_id uuid)
  returns setof collab.artifacts
  language plpgsql stable set search_path = ''
as $$
begin
  perform collab._require_visible_job(job_id);
  return query
    select * from collab.artifacts a
     where a.job_id = artifacts_by_job_v1.job_id
     order by a.created_at, a.id;
end
$$;

-- { job, artifacts, events } in one call.
create function collab.job_summary_v1(job_id uuid)
  returns jsonb
  language plpgsql stable set search_path = ''
as $$
begin
  perform collab._require_visible_job(job_id);
  return jsonb_build_object(
    'job', (select to_jsonb(j) from collab.jobs j where j.id = job_summary_v1.job_id),
    'artifacts', coalesce((select jsonb_agg(to_jsonb(a) order by a.created_at, a.id)
                             from collab.artifacts a where a.job_id = job_summary_v1.job_id),
                          '[]'::jsonb),
    'events', coalesce((select jsonb_agg(to_jsonb(e) order by e.seq)
                          from collab.job_events e where e.job_id = job_summary_v1.job_id),
                       '[]'::jsonb));
end
$$;

-- The page envelope shared by the listings: drops the look-ahead row and derives
-- nextCursor from the last item kept.
create function collab._page(rows jsonb, n integer, page_size integer) returns jsonb
  language sql immutable set search_path = ''
as $$
  select case when n > page_size then
    jsonb_build_object(
      'items', rows - page_size, 'count', page_size,
      'nextCursor', collab._cursor_encode((rows -> (page_size - 1) ->> 'created_at')::timestamptz,
                                          (rows -> (page_size - 1) ->> 'id')::uuid))
  else
    jsonb_build_object('items', rows, 'count', n, 'nextCursor', null)
  end
$$;

-- Newest jobs first: { items, count, nextCursor }. Filters are optional. `cursor` is
-- the previous page's nextCursor (or a bare ISO timestamp); nextCursor is null on the
-- last page. `count` is the number of items in this page.
create function collab.jobs_recent_v1(
  executor_id text default null, status text default null, type text default null,
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
  if status is not null and status not in ('queued', 'running', 'succeeded', 'failed', 'cancelled') then
    perform collab._raise('CL400', 'status must be queued, running, succeeded, failed or cancelled');
  end if;
  c := collab._cursor_decode(cursor);
  select coalesce(jsonb_agg(to_jsonb(p) order by p.created_at desc, p.id desc), '[]'::jsonb), count(*)
    into rows, n
    from (select * from collab.jobs j
           where (jobs_recent_v1.executor_id is null or j.executor_id = jobs_recent_v1.executor_id)
             and (jobs_recent_v1.status is null or j.status = jobs_recent_v1.status)
             and (jobs_recent_v1.type is null or j.type = jobs_recent_v1.type)
             and (c.ts is null
                  or (c.id is null and j.created_at < c.ts)
                  or (c.id is not null and (j.created_at, j.id) < (c.ts, c.id)))
           order by j.created_at desc, j.id desc
           limit page_size + 1) p;
  return collab._page(rows, n, page_size);
end
$$;

-- Dead letters, newest first: { items, count, nextCursor }, as jobs_recent_v1.
create function collab.dlq_list_v1(
  executor_id text default null, page_size integer default 20, cursor text default null,
  include_retried boolean default true)
  returns jsonb
  language plpgsql stable set search_path = '' set plan_cache_mode = force_custom_plan
as $$
declare
  c record;
  rows jsonb;
  n integer;
begin
  perform collab._check_range('page_size', page_size, 1, 1000);
  c := collab._cursor_decode(cursor);
  select coalesce(jsonb_agg(to_jsonb(p) order by p.created_at desc, p.id desc), '[]'::jsonb), count(*)
    into rows, n
    from (select * from collab.job_dead_letters d
           where (dlq_list_v1.executor_id is null or d.executor_id = dlq_list_v1.executor_id)
             and (coalesce(include_retried, true) or d.retried_at is null)
             and (c.ts is null
                  or (c.id is null and d.created_at < c.ts)
                  or (c.id is not null and (d.created_at, d.id) < (c.ts, c.id)))
           order by d.created_at desc, d.id desc
           limit page_size + 1) p;
  return collab._page(rows, n, page_size);
end
$$;

-- Workers seen in the last `within_seconds` seconds and not stopped.
create function collab.workers_active_v1(within_seconds integer default 20, executor_id text default null)
  returns setof collab.worker_heartbeats_v2
  language plpgsql stable set search_path = ''
as $$
begin
  perform collab._check_range('within_seconds', within_seconds, 1, 86400);
  return query
    select * from collab.worker_heartbeats_v2 w
     where w.last_seen_at > now() - make_interval(secs => within_seconds)
       and w.status <> 'stopped'
       and (workers_active_v1.executor_id is null or w.executor_id = workers_active_v1.executor_id)
     order by w.last_seen_at desc, w.worker_id;
end
$$;

-- Counts by status, also under the seeds' names (pending, claimed, completed).
create function collab.stats_v1(executor_id text default null)
  returns jsonb
  language sql stable set search_path = ''
as $$
  select jsonb_build_object(
    'queued', s.queued, 'running', s.running, 'succeeded', s.succeeded,
    'failed', s.failed, 'cancelled', s.cancelled, 'total', s.total,
    'pending', s.queued, 'claimed', s.running, 'completed', s.succeeded)
  from (select count(*) filter (where j.status = 'queued') as queued,
               count(*) filter (where j.status = 'running') as running,
               count(*) filter (where j.status = 'succeeded') as succeeded,
               count(*) filter (where j.status = 'failed') as failed,
               count(*) filter (where j.status = 'cancelled') as cancelled,
               count(*) as total
          from collab.jobs j
         where stats_v1.executor_id is null or j.executor_id = stats_v1.executor_id) s
$$;

-- Overview for dashboards: counts by status and by type, throughput over the last
-- 1/5/60 minutes, p50/p95 queue wait and run time (ms) of jobs finished in the last
-- hour, DLQ size and active workers.
create function collab.metrics_overview_v1(executor_id text default null)
  returns jsonb
  language sql stable set search_path = ''
as $$
  with scope as (
    select * from collab.jobs j
     where metrics_overview_v1.executor_id is null or j.executor_id = metrics_overview_v1.executor_id
  ), recent as (
    select * from scope where finished_at > now() - interval '60 minutes'
  )
  select jsonb_build_object(
    'generatedAt', now(),
    'byStatus', collab.stats_v1(metrics_overview_v1.executor_id),
    'byType', coalesce((
      select jsonb_object_agg(t.type, t.counts) from (
        select s.type, jsonb_object_agg(s.status, s.n) as counts
          from (select type, status, count(*) as n from scope group by type, status) s
         group by s.type) t), '{}'::jsonb),
    'finished', jsonb_build_object(
      'last1m', (select count(*) from recent where finished_at > now() - interval '1 minute'),
      'last5m', (select count(*) from recent where finished_at > now() - interval '5 minutes'),
      'last60m', (select count(*) from recent)),
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
                where d.retried_at is null
                  and (metrics_overview_v1.executor_id is null or d.executor_id = metrics_overview_v1.executor_id)),
      'total', (select count(*) from collab.job_dead_letters d
                 where metrics_overview_v1.executor_id is null or d.executor_id = metrics_overview_v1.executor_id)),
    'activeWorkers', (select count(*) from collab.workers_active_v1(20, metrics_overview_v1.executor_id)))
$$;
