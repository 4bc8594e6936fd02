-- collab: the listing indexes of `jobs` leave running jobs out, and one small index holds
-- those (issue 19).
--
-- Every update of a job is non-HOT (the claim index's key and predicate change), so each
-- claim and each complete adds an entry to every index whose predicate the new row
-- satisfies. The three listing indexes (`jobs_created_idx`, `jobs_executor_created_idx`,
-- `jobs_queue_order_idx`) had none: a job got an entry in each at its enqueue, its claim
-- and its complete. A running job is short-lived and there are few of them (at most the
-- workers' concurrency, and the expired leases not yet reclaimed), so the listing indexes
-- now hold every job but the running ones (`where status <> 'running'`), and
-- `jobs_running_idx` holds the running ones: a claim writes one listing entry instead of
-- three. The readers (`jobs_recent_v1`, `jobs_list_v1`, `jobs_list_after_v1`,
-- `_bulk_match`) read the two parts and merge them.

drop index collab.jobs_created_idx;
drop index collab.jobs_executor_created_idx;
drop index collab.jobs_queue_order_idx;
create index jobs_created_idx on collab.jobs (created_at desc, id desc) where status <> 'running';
create index jobs_executor_created_idx on collab.jobs (executor_id, created_at desc, id desc)
  where status <> 'running';
create index jobs_queue_order_idx on collab.jobs (executor_id, status, priority desc, created_at, id)
  where status <> 'running';
create index jobs_running_idx on collab.jobs (executor_id, created_at desc, id desc) where status = 'running';

-- Newest first: the jobs that are not running (one range read of a listing index) and the
-- running ones (of `jobs_running_idx`), at most a page and one of each, merged. Each part's
-- status test folds to a constant in the custom plan, so a part the status excludes is
-- never read.
create or replace function collab.jobs_recent_v1(
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
  perform collab_private._check_range('page_size', page_size, 1, 1000);
  if status is not null and status not in ('queued', 'running', 'succeeded', 'failed', 'cancelled') then
    perform collab_private._raise('CL400', 'status must be queued, running, succeeded, failed or cancelled');
  end if;
  c := collab_private._cursor_decode(cursor);
  select coalesce(jsonb_agg(to_jsonb(p) order by p.created_at desc, p.id desc), '[]'::jsonb), count(*)
    into rows, n
    from (select * from (
            (select * from collab.jobs j
              where j.status <> 'running'
                and (jobs_recent_v1.status is null
                     or (jobs_recent_v1.status <> 'running' and j.status = jobs_recent_v1.status))
                and (jobs_recent_v1.executor_id is null or j.executor_id = jobs_recent_v1.executor_id)
                and (jobs_recent_v1.type is null or j.type = jobs_recent_v1.type)
                and (c.ts is null
                     or (c.id is null and j.created_at < c.ts)
                     or (c.id is not null and (j.created_at, j.id) < (c.ts, c.id)))
              order by j.created_at desc, j.id desc
              limit page_size + 1)
            union all
            (select * from collab.jobs j
              where j.status = 'running'
                and (jobs_recent_v1.status is null or jobs_recent_v1.status = 'running')
                and (jobs_recent_v1.executor_id is null or j.executor_id = jobs_recent_v1.executor_id)
                and (jobs_recent_v1.type is null or j.type = jobs_recent_v1.type)
                and (c.ts is null
                     or (c.id is null and j.created_at < c.ts)
                     or (c.id is not null and (j.created_at, j.id) < (c.ts, c.id)))
              order by j.created_at desc, j.id desc
              limit page_size + 1)) u
           order by u.created_at desc, u.id desc
           limit page_size + 1) p;
  return collab_private._page(rows, n, page_size);
end
$$;

-- Priority first: as before, the jobs that are not running from `jobs_queue_order_idx`
-- (one status: its order is the answer's), and the running ones from `jobs_running_idx`
-- (few: sorted), each at most `page_size + page_offset` rows, merged.
create or replace function collab.jobs_list_v1(
  executor_id text default null, statuses text[] default null, type text default null,
  page_size integer default 50, page_offset integer default 0)
  returns setof collab.jobs
  language plpgsql stable set search_path = '' set plan_cache_mode = force_custom_plan
as $$
begin
  perform collab_private._check_range('page_size', page_size, 1, 1000);
  perform collab_private._check_range('page_offset', page_offset, 0, 1000000);
  if statuses is not null and (cardinality(statuses) = 0 or not statuses <@
      array['queued', 'running', 'succeeded', 'failed', 'cancelled']) then
    perform collab_private._raise('CL400', 'statuses must be a non-empty subset of queued, running, succeeded, failed, cancelled');
  end if;
  if cardinality(statuses) = 1 then
    -- One status: an equality, so the index's order is the answer's (before PostgreSQL 17,
    -- `= any ('{one}')` is not an equality to the planner, which would sort every match).
    -- `running` implies jobs_running_idx's predicate, any other status the listing index's.
    return query
      select * from collab.jobs j
       where (jobs_list_v1.executor_id is null or j.executor_id = jobs_list_v1.executor_id)
         and j.status = jobs_list_v1.statuses[1]
         and (jobs_list_v1.type is null or j.type = jobs_list_v1.type)
       order by j.priority desc, j.created_at, j.id
       limit page_size offset page_offset;
  else
    return query
      select u.* from (
        (select * from collab.jobs j
          where j.status <> 'running'
            and (jobs_list_v1.executor_id is null or j.executor_id = jobs_list_v1.executor_id)
            and (jobs_list_v1.statuses is null or j.status = any (jobs_list_v1.statuses))
            and (jobs_list_v1.type is null or j.type = jobs_list_v1.type)
          order by j.priority desc, j.created_at, j.id
          limit page_size + page_offset)
        union all
        (select * from collab.jobs j
          where j.status = 'running'
            and (jobs_list_v1.statuses is null or 'running' = any (jobs_list_v1.statuses))
            and (jobs_list_v1.executor_id is null or j.executor_id = jobs_list_v1.executor_id)
            and (jobs_list_v1.type is null or j.type = jobs_list_v1.type)
          order by j.priority desc, j.created_at, j.id
          limit page_size + page_offset)) u
       order by u.priority desc, u.created_at, u.id
       limit page_size offset page_offset;
  end if;
end
$$;

-- Keyset pages: per status that is not `running`, as before, two range reads of
-- `jobs_queue_order_idx` (the rest of the cursor's priority, then the lower ones); the
-- running jobs after the cursor from `jobs_running_idx`; at most `page_size` rows each,
-- merged.
create or replace function collab.jobs_list_after_v1(
  executor_id text default null, statuses text[] default null, type text default null,
  page_size integer default 50, after_priority integer default null,
  after_created_at timestamptz default null, after_id uuid default null)
  returns setof collab.jobs
  language plpgsql stable set search_path = '' set plan_cache_mode = force_custom_plan
as $$
begin
  perform collab_private._check_range('page_size', page_size, 1, 1000);
  if statuses is not null and (cardinality(statuses) = 0 or not statuses <@
      array['queued', 'running', 'succeeded', 'failed', 'cancelled']) then
    perform collab_private._raise('CL400', 'statuses must be a non-empty subset of queued, running, succeeded, failed, cancelled');
  end if;
  if (after_priority is null) <> (after_created_at is null) or (after_priority is null) <> (after_id is null) then
    perform collab_private._raise('CL400', 'after_priority, after_created_at and after_id go together (the last row of the previous page)');
  end if;
  -- Each status on its own (an equality: the index's order is the answer's), at most
  -- page_size rows each, merged.
  return query
    select p.* from (
      select q.* from unnest(coalesce(statuses, array['queued', 'running', 'succeeded', 'failed', 'cancelled'])) s (status)
       cross join lateral (
         (select * from collab.jobs j
           where (jobs_list_after_v1.executor_id is null or j.executor_id = jobs_list_after_v1.executor_id)
             and j.status = s.status and j.status <> 'running'
             and (jobs_list_after_v1.type is null or j.type = jobs_list_after_v1.type)
             and after_priority is not null and j.priority = after_priority
             and (j.created_at, j.id) > (after_created_at, after_id)
           order by j.created_at, j.id
           limit page_size)
         union all
         (select * from collab.jobs j
           where (jobs_list_after_v1.executor_id is null or j.executor_id = jobs_list_after_v1.executor_id)
             and j.status = s.status and j.status <> 'running'
             and (jobs_list_after_v1.type is null or j.type = jobs_list_after_v1.type)
             and (after_priority is null or j.priority < after_priority)
           order by j.priority desc, j.created_at, j.id
           limit page_size)) q
       where s.status <> 'running'
      union all
      (select * from collab.jobs j
        where j.status = 'running'
          and (statuses is null or 'running' = any (statuses))
          and (jobs_list_after_v1.executor_id is null or j.executor_id = jobs_list_after_v1.executor_id)
          and (jobs_list_after_v1.type is null or j.type = jobs_list_after_v1.type)
          and (after_priority is null or j.priority < after_priority
               or (j.priority = after_priority and (j.created_at, j.id) > (after_created_at, after_id)))
        order by j.priority desc, j.created_at, j.id
        limit page_size)) p
     order by p.priority desc, p.created_at, p.id
     limit page_size;
end
$$;

-- A bulk action's selection, in two parts for the two indexes (a generic plan: each
-- part's literal status test is what lets it use a partial index).
create or replace function collab._bulk_match(executor_id text, job_ids uuid[], statuses text[], type text)
  returns table (id uuid, status text)
  language sql stable set search_path = ''
as $$
  select j.id, j.status from collab.jobs j
   where j.executor_id = _bulk_match.executor_id and j.status <> 'running'
     and (_bulk_match.job_ids is null or j.id = any (_bulk_match.job_ids))
     and (_bulk_match.statuses is null or j.status = any (_bulk_match.statuses))
     and (_bulk_match.type is null or j.type = _bulk_match.type)
  union all
  select j.id, j.status from collab.jobs j
   where j.executor_id = _bulk_match.executor_id and j.status = 'running'
     and (_bulk_match.job_ids is null or j.id = any (_bulk_match.job_ids))
     and (_bulk_match.statuses is null or 'running' = any (_bulk_match.statuses))
     and (_bulk_match.type is null or j.type = _bulk_match.type)
$$;
