-- collab: `jobs_created_idx` goes; the all-executor `jobs_recent_v1` merges per-executor
-- reads instead (issue 19).
--
-- The index was read by one listing only, `jobs_recent_v1` without an executor, and cost
-- an entry per enqueue and per complete (after migration 20261204000000 not per claim):
-- dropping it took the batch enqueue's backend CPU to 0.90x and its WAL from 1,206 to
-- 1,092 bytes a job, the batch drain's to 0.97x (bench/README.md, "issue 19, fourth
-- pass"). That listing now reads, for each executor the caller may see, at most a page
-- and one of `jobs_executor_created_idx`, merges them with the running jobs (as before,
-- from `jobs_running_idx`) and keeps a page and one: one short index read per executor.
-- The executors: for a caller under row-level security (an `authenticated` member) its
-- memberships, as the policy on `jobs` reads them; for a caller who bypasses it (the
-- service role, the owner) every executor with a job that is not running, found by a
-- skip scan of `jobs_executor_created_idx` (one index probe per executor).

drop index collab.jobs_created_idx;

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
  with recursive every_executor (executor_id) as (
    (select j.executor_id from collab.jobs j
      where jobs_recent_v1.executor_id is null and not row_security_active('collab.jobs')
        and j.status <> 'running'
      order by j.executor_id limit 1)
    union all
    select (select j.executor_id from collab.jobs j
             where j.status <> 'running' and j.executor_id > e.executor_id
             order by j.executor_id limit 1)
      from every_executor e where e.executor_id is not null
  ), executors (executor_id) as (
    select jobs_recent_v1.executor_id where jobs_recent_v1.executor_id is not null
    union all
    select distinct m.executor_id from collab.executor_members m
     where jobs_recent_v1.executor_id is null and row_security_active('collab.jobs')
       and m.user_id = (select auth.uid())
    union all
    select e.executor_id from every_executor e where e.executor_id is not null
  )
  select coalesce(jsonb_agg(to_jsonb(p) order by p.created_at desc, p.id desc), '[]'::jsonb), count(*)
    into rows, n
    from (select * from (
            (select q.* from executors x cross join lateral (
               select * from collab.jobs j
                where j.executor_id = x.executor_id and j.status <> 'running'
                  and (jobs_recent_v1.status is null
                       or (jobs_recent_v1.status <> 'running' and j.status = jobs_recent_v1.status))
                  and (jobs_recent_v1.type is null or j.type = jobs_recent_v1.type)
                  and (c.ts is null
                       or (c.id is null and j.created_at < c.ts)
                       or (c.id is not null and (j.created_at, j.id) < (c.ts, c.id)))
                order by j.created_at desc, j.id desc
                limit page_size + 1) q)
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
