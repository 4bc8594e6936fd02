-- collab: cheaper claims and event-log triggers (signatures unchanged), complete_and_claim_v1
-- (schema 3), the grants the service role's direct writes need, and a clear error for a
-- null job id.
--
-- 1. claim_jobs_v1 planned its claim statement afresh on every call: the plan cache
--    compares a generic plan, which must assume LIMIT max_jobs returns 10 % of the
--    table, with custom plans for LIMIT 1, and always chose to re-plan (about 100 us a
--    claim, a fifth of the single-claim path). The claimed ids now reach the UPDATE as
--    an array (= any (array(...)), still from the MATERIALIZED CTE that locks them), so
--    the generic plan is two index scans whatever max_jobs is, and the function forces
--    it. The dead-letter sweep uses the same form, for the same reason. Rows still come
--    back in pick order. complete_jobs_v1 is forced generic as well.
-- 2. complete_and_claim_v1: a worker that takes one job at a time completes its job and
--    leases the next in one call and one transaction, instead of two of each. (Schema 3.)
-- 3. The event log's statement triggers skip their PL/pgSQL call when it would do
--    nothing: taking a transaction id when the transaction has one already (every
--    write to jobs has), and notifying when nobody listens.

create or replace function collab.claim_jobs_v1(
  executor_id text, worker_id text, lease_seconds integer default 60,
  max_jobs integer default 10, type_prefixes text[] default null, types text[] default null)
  returns setof collab.jobs
  language plpgsql security definer set search_path = '' set plan_cache_mode = force_generic_plan
as $$
begin
  perform collab._check_name('executor_id', executor_id);
  perform collab._check_name('worker_id', worker_id);
  perform collab._check_range('lease_seconds', lease_seconds, 1, 86400);
  perform collab._check_range('max_jobs', max_jobs, 1, 1000);
  perform collab._require_member(executor_id, '{worker,admin}');

  -- Crashed workers' jobs that used their last attempt go to the dead-letter queue.
  -- Probed first: an UPDATE that matches nothing still fires the statement trigger.
  -- (lease_until is set exactly while running; see jobs_exhausted_idx.)
  if exists (select 1 from collab.jobs r
              where r.executor_id = claim_jobs_v1.executor_id
                and r.lease_until < now() and r.attempts >= r.max_attempts) then
    with exhausted as (
      update collab.jobs j
         set status = 'failed', finished_at = now(), updated_at = now(),
             last_error = format('lease of worker %s expired on attempt %s of %s',
                                 j.lease_owner, j.attempts, j.max_attempts)
       where j.id = any (array(
               select r.id from collab.jobs r
                where r.executor_id = claim_jobs_v1.executor_id
                  and r.lease_until < now() and r.attempts >= r.max_attempts
                  for update skip locked))
      returning j.*
    )
    insert into collab.job_dead_letters (job_id, type, executor_id, payload, priority,
                                         max_attempts, last_error, attempts, reason)
    select x.id, x.type, x.executor_id, x.payload, x.priority, x.max_attempts,
           x.last_error, x.attempts, 'lease_expired'
      from exhausted x;
  end if;

  return query
  with picked as materialized (
    select j.id
      from collab.jobs j
     where j.executor_id = claim_jobs_v1.executor_id
       and j.status in ('queued', 'running')
       and j.next_run_at <= now()
       and (j.status = 'queued' or j.attempts < j.max_attempts)
       and ((types is null and type_prefixes is null)
            or j.type = any (types)
            or exists (select 1 from unnest(type_prefixes) p where starts_with(j.type, p)))
     order by j.priority desc, j.next_run_at, j.id
     limit max_jobs
     for update skip locked
  ), claimed as (
    update collab.jobs j
       set status = 'running', attempts = j.attempts + 1, lease_owner = worker_id,
           next_run_at = now() + make_interval(secs => lease_seconds),
           started_at = now(), updated_at = now(),
           last_error = case when j.status = 'running'
                             then format('lease of worker %s expired', j.lease_owner)
                             else j.last_error end
     where j.id = any (array(select p.id from picked p))
    returning j.*
  )
  -- Returned in pick order. Joined through the array, not the CTE: the generic plan sizes
  -- a hash on picked for 10 % of the table (LIMIT unknown), on the array for ten rows.
  select c.* from claimed c
    join unnest(array(select p.id from picked p)) with ordinality as o (id, ord) on o.id = c.id
   order by o.ord;
end
$$;

-- The batch complete was re-planned on every call too (about 2.4 us per job of a batch of
-- 100); its generic plan is the same index scans by id.
alter function collab.complete_jobs_v1(text, jsonb) set plan_cache_mode = force_generic_plan;

create or replace function collab._job_events_notify() returns trigger
  language plpgsql set search_path = ''
as $$
declare
  hint text;
begin
  -- Called only while someone listens (the trigger's WHEN clause asks).
  select json_build_object(
           'executor_id', case when min(n.executor_id) = max(n.executor_id) then min(n.executor_id) end,
           'job_id', case when min(n.job_id::text) = max(n.job_id::text) then min(n.job_id::text) end,
           'seq', max(n.seq))::text
    into hint
    from new_rows n
  having count(*) > 0;
  if hint is not null then
    perform pg_notify('collab_events', hint);
  end if;
  return null;
end
$$;

drop trigger job_events_take_xid on collab.job_events;
create trigger job_events_take_xid before insert on collab.job_events
  for each statement when (pg_current_xact_id_if_assigned() is null)
  execute function collab._job_events_take_xid();

drop trigger job_events_notify on collab.job_events;
create trigger job_events_notify after insert on collab.job_events
  referencing new table as new_rows
  for each statement when (collab._event_listeners_present())
  execute function collab._job_events_notify();

-- Complete a leased job and lease the next due one, in one transaction: exactly
-- complete_job_v1 followed by claim_one_job_v3 (same checks, errors and events), so a
-- lease lost on the first job claims nothing. Returns the next job, or no row.
create function collab.complete_and_claim_v1(
  job_id uuid, worker_id text, executor_id text, result jsonb default null,
  artifacts jsonb default '[]', attempt integer default null,
  lease_seconds integer default 60, type_prefix text default null)
  returns setof collab.jobs
  language plpgsql set search_path = ''
as $$
begin
  perform collab.complete_job_v1(job_id => complete_and_claim_v1.job_id,
                                 worker_id => complete_and_claim_v1.worker_id,
                                 result => complete_and_claim_v1.result,
                                 artifacts => complete_and_claim_v1.artifacts,
                                 attempt => complete_and_claim_v1.attempt);
  return query
  select * from collab.claim_jobs_v1(
    executor_id => complete_and_claim_v1.executor_id,
    worker_id => complete_and_claim_v1.worker_id,
    lease_seconds => complete_and_claim_v1.lease_seconds, max_jobs => 1,
    type_prefixes => case when complete_and_claim_v1.type_prefix is null then null
                          else array[complete_and_claim_v1.type_prefix] end);
end
$$;

revoke all on function collab.complete_and_claim_v1(uuid, text, text, jsonb, jsonb, integer, integer, text)
  from public;
grant execute on function collab.complete_and_claim_v1(uuid, text, text, jsonb, jsonb, integer, integer, text)
  to authenticated, service_role;

-- Every RPC that acts on one job by id: a null id said "job  not found" (CL404); it is
-- bad input (CL400 job_id is required).
create or replace function collab._lock_job(job_id uuid, roles text[],
                                            allowed_statuses text[] default null,
                                            verb text default null)
  returns collab.jobs
  language plpgsql set search_path = ''
as $$
declare
  j collab.jobs;
  member_role text;
begin
  select * into j from collab.jobs where id = _lock_job.job_id for update;
  if not found then
    if job_id is null then
      perform collab._raise('CL400', 'job_id is required');
    end if;
    perform collab._raise('CL404', format('job %s not found', job_id));
  end if;
  if not collab._caller_is_trusted() then
    select m.role into member_role from collab.executor_members m
     where m.executor_id = j.executor_id and m.user_id = auth.uid();
    if not found then
      perform collab._raise('CL404', format('job %s not found', job_id));
    end if;
    if not member_role = any (roles) then
      perform collab._raise('CL403', format('not allowed: caller is not a %s of executor %s',
                                            array_to_string(roles, ' or '), j.executor_id));
    end if;
  end if;
  if allowed_statuses is not null and not j.status = any (allowed_statuses) then
    perform collab._raise('CL412', format('cannot %s job %s: it is %s', verb, j.id, j.status));
  end if;
  return j;
end
$$;

-- The service role may write the tables directly (its grants allow it), and the event
-- log's triggers then call these helpers as the service role: without EXECUTE such a
-- write failed with "permission denied for function".
grant execute on function collab._notify_claimable(text[]), collab._event_listeners_present()
  to service_role;

-- Schema 3: version 2 plus complete_and_claim_v1.
create or replace function collab.schema_version() returns integer
  language sql immutable set search_path = ''
as $$ select 3 $$;
