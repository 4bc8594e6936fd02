-- collab: crash isolation (schema 4). A job whose worker died must not make the jobs that
-- ran beside it pay.
--
-- When a worker process dies (os._exit, segfault, OOM kill) every job it was running loses
-- its lease, and nothing tells the innocent jobs from the one that killed it. Before this
-- migration each reclaim charged an attempt to all of them, and they came back together
-- (the same expired next_run_at), so the next batch ran them beside the crasher again.
--
-- Now:
-- 1. A job whose lease expired is a *suspect* (jobs.rescues counts its expired leases).
--    claim_jobs_v2 hands a suspect only to a worker that runs nothing (alone => true), and
--    then only that job; the worker claims nothing else until it ends (solo = true on the
--    row). A busy worker (alone => false) takes the due jobs before the first suspect of its
--    claim window and stops there, so it drains and comes back alone: a suspect at the head
--    of the queue is never starved.
-- 2. An attempt lost while the job ran beside others (claimed by claim_jobs_v2 with
--    solo = false) is forgiven once (forgiven_attempts = 1): attempts still counts every
--    claim (it fences writes), but the dead-letter rule counts attempts - forgiven_attempts.
--    An attempt lost while the job ran alone (solo = true) is charged as before. A poison
--    job therefore dead-letters after max_attempts charged attempts (max_attempts + 1 runs
--    at most); an innocent neighbour is charged nothing for the crash.
-- 3. claim_jobs_v1 (and claim_one_job_v3, complete_and_claim_v1 through it) keeps its
--    behaviour: it is claim_jobs_v2 with alone => null, which claims suspects like any job
--    and marks its claims solo = null, whose lost attempts are charged (nothing forgiven).

alter table collab.jobs
  add column rescues integer not null default 0 check (rescues >= 0),
  add column forgiven_attempts integer not null default 0 check (forgiven_attempts between 0 and 1),
  add column solo boolean;
comment on column collab.jobs.rescues is
  'How many of this job''s leases expired (its worker died or froze); > 0 makes it a suspect, claimed alone';
comment on column collab.jobs.forgiven_attempts is
  'Attempts not charged: one lost to a crash while the job ran beside others (at most 1)';
comment on column collab.jobs.solo is
  'How the current (or last) attempt was claimed: true alone (a suspect), false beside others (claim_jobs_v2), null by claim_jobs_v1';

create function collab.claim_jobs_v2(
  executor_id text, worker_id text, lease_seconds integer default 60,
  max_jobs integer default 10, type_prefixes text[] default null, types text[] default null,
  alone boolean default false)
  returns setof collab.jobs
  language plpgsql security definer set search_path = '' set plan_cache_mode = force_generic_plan
as $$
declare
  ids uuid[];
  suspects boolean[];
  first_suspect integer;
  take uuid[];
  solo_claim boolean := case when alone is null then null else false end;
begin
  perform collab._check_name('executor_id', executor_id);
  perform collab._check_name('worker_id', worker_id);
  perform collab._check_range('lease_seconds', lease_seconds, 1, 86400);
  perform collab._check_range('max_jobs', max_jobs, 1, 1000);
  perform collab._require_member(executor_id, '{worker,admin}');

  -- Expired leases whose charged attempts are used up go to the dead-letter queue. The
  -- lost attempt itself is forgiven when the job ran beside others and was never forgiven
  -- before. (jobs_exhausted_idx holds attempts >= max_attempts: a superset.)
  if exists (select 1 from collab.jobs r
              where r.executor_id = claim_jobs_v2.executor_id
                and r.lease_until < now() and r.attempts >= r.max_attempts
                and r.attempts - r.forgiven_attempts
                    - (r.solo is false and r.forgiven_attempts = 0)::integer >= r.max_attempts) then
    with exhausted as (
      update collab.jobs j
         set status = 'failed', finished_at = now(), updated_at = now(),
             last_error = format('lease of worker %s expired on attempt %s of %s',
                                 j.lease_owner, j.attempts - j.forgiven_attempts, j.max_attempts)
       where j.id = any (array(
               select r.id from collab.jobs r
                where r.executor_id = claim_jobs_v2.executor_id
                  and r.lease_until < now() and r.attempts >= r.max_attempts
                  and r.attempts - r.forgiven_attempts
                      - (r.solo is false and r.forgiven_attempts = 0)::integer >= r.max_attempts
                  for update skip locked))
      returning j.*
    )
    insert into collab.job_dead_letters (job_id, type, executor_id, payload, priority,
                                         max_attempts, last_error, attempts, reason)
    select x.id, x.type, x.executor_id, x.payload, x.priority, x.max_attempts,
           x.last_error, x.attempts, 'lease_expired'
      from exhausted x;
  end if;

  -- The claim window, in claim order, with which of its jobs are suspects.
  with picked as materialized (
    select j.id, (j.status = 'running' or j.rescues > 0) as suspect
      from collab.jobs j
     where j.executor_id = claim_jobs_v2.executor_id
       and j.status in ('queued', 'running')
       and j.next_run_at <= now()
       and (j.status = 'queued'
            or j.attempts - j.forgiven_attempts
               - (j.solo is false and j.forgiven_attempts = 0)::integer < j.max_attempts)
       and ((types is null and type_prefixes is null)
            or j.type = any (types)
            or exists (select 1 from unnest(type_prefixes) p where starts_with(j.type, p)))
     order by j.priority desc, j.next_run_at, j.id
     limit max_jobs
     for update skip locked
  )
  select array_agg(p.id), array_agg(p.suspect) into ids, suspects from picked p;

  first_suspect := array_position(suspects, true);
  if alone is null or first_suspect is null then
    take := ids;                                   -- no isolation asked, or no suspect
  elsif alone then
    take := array[ids[first_suspect]];             -- the first suspect, and it alone
    solo_claim := true;
  else
    take := ids[1:first_suspect - 1];              -- a busy worker stops before a suspect
  end if;
  if coalesce(cardinality(take), 0) = 0 then
    return;
  end if;

  return query
  with claimed as (
    update collab.jobs j
       set status = 'running', attempts = j.attempts + 1, lease_owner = worker_id,
           next_run_at = now() + make_interval(secs => lease_seconds),
           started_at = now(), updated_at = now(),
           rescues = j.rescues + (j.status = 'running')::integer,
           forgiven_attempts = j.forgiven_attempts
                               + (j.status = 'running' and j.solo is false and j.forgiven_attempts = 0)::integer,
           solo = solo_claim,
           last_error = case
             when j.status = 'running' and j.solo is false and j.forgiven_attempts = 0
               then format('lease of worker %s expired (attempt not counted: other jobs ran beside it)',
                           j.lease_owner)
             when j.status = 'running' then format('lease of worker %s expired', j.lease_owner)
             else j.last_error end
     where j.id = any (take)
    returning j.*
  )
  select c.* from claimed c
    join unnest(take) with ordinality as o (id, ord) on o.id = c.id
   order by o.ord;
end
$$;

-- claim_jobs_v1: claim_jobs_v2 without isolation (suspects are claimed like any job), so
-- both share one dead-letter rule.
create or replace function collab.claim_jobs_v1(
  executor_id text, worker_id text, lease_seconds integer default 60,
  max_jobs integer default 10, type_prefixes text[] default null, types text[] default null)
  returns setof collab.jobs
  language plpgsql security definer set search_path = '' set plan_cache_mode = force_generic_plan
as $$
begin
  return query
  select * from collab.claim_jobs_v2(
    executor_id => claim_jobs_v1.executor_id, worker_id => claim_jobs_v1.worker_id,
    lease_seconds => claim_jobs_v1.lease_seconds, max_jobs => claim_jobs_v1.max_jobs,
    type_prefixes => claim_jobs_v1.type_prefixes, types => claim_jobs_v1.types, alone => null);
end
$$;

-- fail_job_v1: the same, but a forgiven attempt is not counted against max_attempts.
create or replace function collab.fail_job_v1(
  job_id uuid, worker_id text, error text default null, retryable boolean default true,
  retry_delay_seconds integer default null, attempt integer default null)
  returns setof collab.jobs
  language plpgsql security definer set search_path = ''
as $$
declare
  j collab.jobs;
  message text := left(coalesce(nullif(error, ''), 'failed without an error message'), 16384);
begin
  if retry_delay_seconds is not null then
    perform collab._check_range('retry_delay_seconds', retry_delay_seconds, 0, 604800);
  end if;
  j := collab._lock_job(job_id, '{worker,admin}');
  if j.status in ('queued', 'failed') and j.lease_owner = worker_id
     and j.last_error = message and (attempt is null or attempt = j.attempts) then
    return next j;  -- a retry of a fail that already took effect
    return;
  end if;
  perform collab._require_lease(j, worker_id, attempt);
  if coalesce(retryable, true) and j.attempts - j.forgiven_attempts < j.max_attempts then
    update collab.jobs
       set status = 'queued', last_error = message, updated_at = now(),
           next_run_at = now() + make_interval(secs => coalesce(
             retry_delay_seconds::double precision,
             collab._retry_backoff_seconds(j.attempts - j.forgiven_attempts)))
     where id = j.id
    returning * into j;
  else
    update collab.jobs
       set status = 'failed', last_error = message, finished_at = now(), updated_at = now()
     where id = j.id
    returning * into j;
    insert into collab.job_dead_letters (job_id, type, executor_id, payload, priority,
                                         max_attempts, last_error, attempts, reason)
    values (j.id, j.type, j.executor_id, j.payload, j.priority, j.max_attempts, message,
            j.attempts, case when coalesce(retryable, true) then 'max_attempts'
                             else 'non_retryable' end);
  end if;
  return next j;
end
$$;

-- retry_job_v1: a retried job starts its count afresh, forgiveness included (a suspect
-- stays one: rescues is kept).
create or replace function collab.retry_job_v1(job_id uuid)
  returns setof collab.jobs
  language plpgsql security definer set search_path = ''
as $$
declare
  j collab.jobs;
begin
  j := collab._lock_job(job_id, '{client,worker,admin}', '{failed,succeeded,cancelled}', 'retry');
  update collab.jobs
     set status = 'queued', attempts = 0, forgiven_attempts = 0, solo = null,
         next_run_at = now(), lease_owner = null,
         result = null, started_at = null, finished_at = null, updated_at = now()
   where id = j.id
  returning * into j;
  -- The job itself is retried, so its open dead letter is settled: a later dlq_retry_v1
  -- must not make a second copy of it.
  update collab.job_dead_letters d set retried_at = now(), retried_job_id = j.id
   where d.job_id = j.id and d.retried_at is null;
  return next j;
end
$$;

revoke all on function collab.claim_jobs_v2(text, text, integer, integer, text[], text[], boolean)
  from public;
grant execute on function collab.claim_jobs_v2(text, text, integer, integer, text[], text[], boolean)
  to authenticated, service_role;

-- Schema 4: version 3 plus claim_jobs_v2 and the jobs columns rescues, forgiven_attempts, solo.
create or replace function collab.schema_version() returns integer
  language sql immutable set search_path = ''
as $$ select 4 $$;
