-- collab: the listing of the seed Worker Queue API (`GET /api/jobs`, worker-queue-api.md):
-- jobs by priority, highest first, then by creation, oldest first, with the seed's
-- limit/offset paging, and the index that serves it one executor and status at a time
-- (a page of `?status=pending` at a million jobs is an index range read, not a sort).
--
-- `statuses` is a set because the seed's `failed` covers collab's `failed` and
-- `cancelled` (docs/http.md, "Worker Queue API"). `jobs_recent_v1` keeps newest-first
-- cursor paging for everything else.

create index jobs_queue_order_idx on collab.jobs (executor_id, status, priority desc, created_at, id);

create function collab.jobs_list_v1(
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
    return query
      select * from collab.jobs j
       where (jobs_list_v1.executor_id is null or j.executor_id = jobs_list_v1.executor_id)
         and j.status = jobs_list_v1.statuses[1]
         and (jobs_list_v1.type is null or j.type = jobs_list_v1.type)
       order by j.priority desc, j.created_at, j.id
       limit page_size offset page_offset;
  else
    return query
      select * from collab.jobs j
       where (jobs_list_v1.executor_id is null or j.executor_id = jobs_list_v1.executor_id)
         and (jobs_list_v1.statuses is null or j.status = any (jobs_list_v1.statuses))
         and (jobs_list_v1.type is null or j.type = jobs_list_v1.type)
       order by j.priority desc, j.created_at, j.id
       limit page_size offset page_offset;
  end if;
end
$$;
comment on function collab.jobs_list_v1(text, text[], text, integer, integer) is
  'Jobs by priority desc, created_at asc (the seed Worker Queue API), limit/offset paging; RLS applies';

revoke all on function collab.jobs_list_v1(text, text[], text, integer, integer) from public;
grant execute on function collab.jobs_list_v1(text, text[], text, integer, integer)
  to authenticated, service_role;
