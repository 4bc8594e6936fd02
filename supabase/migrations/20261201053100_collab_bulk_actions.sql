-- collab: the dashboard's bulk actions and the job list's keyset paging.
--
-- jobs_bulk_v1: retry, cancel or delete a selection of one executor's jobs (ids) or
-- every job matching a filter (statuses, type), in ONE data-modifying statement: rows are
-- matched, the ones whose state allows the action are changed (the state is re-checked
-- on the locked row, so a job that a worker moves meanwhile is refused, not clobbered),
-- and the answer says how many were done and how many refused, by status. The caller
-- needs the same membership as for one job (client, worker or admin).
--
-- jobs_list_after_v1: jobs_list_v1's order (priority desc, created_at, id) paged by the
-- last row seen instead of an offset: each status's page is two index range reads of
-- jobs_queue_order_idx (the rest of the cursor's priority, then the lower priorities),
-- so page 10,000 costs what page 1 costs.

-- The jobs a bulk action is about: the executor's `job_ids`, or (none given) its jobs
-- matching `statuses` and `type` (the one place the three actions select them).
create function collab._bulk_match(executor_id text, job_ids uuid[], statuses text[], type text)
  returns table (id uuid, status text)
  language sql stable set search_path = ''
as $$
  select j.id, j.status from collab.jobs j
   where j.executor_id = _bulk_match.executor_id
     and (_bulk_match.job_ids is null or j.id = any (_bulk_match.job_ids))
     and (_bulk_match.statuses is null or j.status = any (_bulk_match.statuses))
     and (_bulk_match.type is null or j.type = _bulk_match.type)
$$;
revoke all on function collab._bulk_match(text, uuid[], text[], text) from public;

create function collab.jobs_bulk_v1(
  action text, executor_id text, job_ids uuid[] default null, statuses text[] default null,
  type text default null, reason text default null)
  returns jsonb
  language plpgsql security definer set search_path = ''
as $$
declare
  answer jsonb;
begin
  if action is null or action not in ('retry', 'cancel', 'delete') then
    perform collab._raise('CL400', format('action must be retry, cancel or delete (got %s)',
                                          coalesce(quote_literal(left(action, 50)), 'null')));
  end if;
  perform collab._check_name('executor_id', executor_id);
  if statuses is not null and (cardinality(statuses) = 0 or not statuses <@
      array['queued', 'running', 'succeeded', 'failed', 'cancelled']) then
    perform collab._raise('CL400', 'statuses must be a non-empty subset of queued, running, succeeded, failed, cancelled');
  end if;
  if cardinality(job_ids) > 10000 then
    perform collab._raise('CL400', 'at most 10000 job_ids: act on a filter instead');
  end if;
  perform collab._require_member(executor_id, '{client,worker,admin}');

  if action = 'retry' then
    -- As retry_job_v1: attempts and forgiveness afresh, open dead letters settled.
    with matched as materialized (
      select * from collab._bulk_match(executor_id, job_ids, statuses, type)
    ), done as (
      update collab.jobs j
         set status = 'queued', attempts = 0, forgiven_attempts = 0, solo = null,
             next_run_at = now(), lease_owner = null,
             result = null, started_at = null, finished_at = null, updated_at = now()
        from matched m
       where j.id = m.id and j.status in ('failed', 'succeeded', 'cancelled')
      returning j.id
    ), settled as (
      update collab.job_dead_letters d set retried_at = now(), retried_job_id = d.job_id
       where d.job_id in (select done.id from done) and d.retried_at is null
    )
    select collab_private._bulk_answer(action, cardinality(job_ids),
                                       (select array_agg(m.status) from matched m),
                                       (select array_agg(m.status) from matched m
                                          left join done on done.id = m.id where done.id is null))
      into answer;
  elsif action = 'cancel' then
    with matched as materialized (
      select * from collab._bulk_match(executor_id, job_ids, statuses, type)
    ), done as (
      update collab.jobs j
         set status = 'cancelled', finished_at = now(), updated_at = now(),
             last_error = coalesce(left(reason, 16384), j.last_error)
        from matched m
       where j.id = m.id and j.status in ('queued', 'running')
      returning j.id
    )
    select collab_private._bulk_answer(action, cardinality(job_ids),
                                       (select array_agg(m.status) from matched m),
                                       (select array_agg(m.status) from matched m
                                          left join done on done.id = m.id where done.id is null))
      into answer;
  else
    -- As delete_job_v1: never a running job, nor a live step of a workflow run (its
    -- trigger would refuse the whole statement), and the deleted jobs' events go too.
    with matched as materialized (
      select * from collab._bulk_match(executor_id, job_ids, statuses, type)
    ), done as (
      delete from collab.jobs j
       using matched m
       where j.id = m.id and j.status in ('queued', 'succeeded', 'failed', 'cancelled')
         and not (j.workflow_run_id is not null and j.status = 'queued')
      returning j.id
    ), events as (
      delete from collab.job_events e using done where e.job_id = done.id
    )
    select collab_private._bulk_answer(action, cardinality(job_ids),
                                       (select array_agg(m.status) from matched m),
                                       (select array_agg(m.status) from matched m
                                          left join done on done.id = m.id where done.id is null))
      into answer;
  end if;
  return answer;
end
$$;
comment on function collab.jobs_bulk_v1(text, text, uuid[], text[], text, text) is
  'Retry, cancel or delete selected (job_ids) or matching (statuses, type) jobs of an executor in one statement: { action, matched, done, refused, refusedByStatus, notFound }';

-- The bulk answer from the statuses of the matched and of the refused rows.
create function collab_private._bulk_answer(action text, asked integer, matched text[],
                                            refused text[])
  returns jsonb
  language plpgsql immutable set search_path = ''
as $$
declare
  n_matched integer := coalesce(cardinality(matched), 0);
  n_refused integer := coalesce(cardinality(refused), 0);
begin
  return jsonb_build_object(
    'action', action, 'matched', n_matched, 'done', n_matched - n_refused, 'refused', n_refused,
    'refusedByStatus', coalesce((select jsonb_object_agg(s.status, s.n)
                                   from (select r as status, count(*) as n from unnest(refused) r
                                          group by r) s), '{}'::jsonb),
    -- Selected ids that are no job of the executor the caller may see.
    'notFound', case when asked is null then 0 else greatest(asked - n_matched, 0) end);
end
$$;
revoke all on function collab_private._bulk_answer(text, integer, text[], text[]) from public;

create function collab.jobs_list_after_v1(
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
    select p.* from unnest(coalesce(statuses, array['queued', 'running', 'succeeded', 'failed', 'cancelled'])) s (status)
     cross join lateral (
       (select * from collab.jobs j
         where (jobs_list_after_v1.executor_id is null or j.executor_id = jobs_list_after_v1.executor_id)
           and j.status = s.status
           and (jobs_list_after_v1.type is null or j.type = jobs_list_after_v1.type)
           and after_priority is not null and j.priority = after_priority
           and (j.created_at, j.id) > (after_created_at, after_id)
         order by j.created_at, j.id
         limit page_size)
       union all
       (select * from collab.jobs j
         where (jobs_list_after_v1.executor_id is null or j.executor_id = jobs_list_after_v1.executor_id)
           and j.status = s.status
           and (jobs_list_after_v1.type is null or j.type = jobs_list_after_v1.type)
           and (after_priority is null or j.priority < after_priority)
         order by j.priority desc, j.created_at, j.id
         limit page_size)) p
     order by p.priority desc, p.created_at, p.id
     limit page_size;
end
$$;
comment on function collab.jobs_list_after_v1(text, text[], text, integer, integer, timestamptz, uuid) is
  'Jobs by priority desc, created_at, id after the given last row (keyset paging of jobs_list_v1); RLS applies';

revoke all on function collab.jobs_bulk_v1(text, text, uuid[], text[], text, text) from public;
revoke all on function collab.jobs_list_after_v1(text, text[], text, integer, integer, timestamptz, uuid) from public;
grant execute on function collab.jobs_bulk_v1(text, text, uuid[], text[], text, text)
  to authenticated, service_role;
grant execute on function collab.jobs_list_after_v1(text, text[], text, integer, integer, timestamptz, uuid)
  to authenticated, service_role;
