-- collab: the RPCs that change state. Each is one transaction, fenced where a worker
-- acts (worker_id + live lease), SECURITY DEFINER with a pinned search_path, and
-- checks the caller itself (collab._require_member / collab._lock_job).
-- Limits: payload/result 1 MiB, event payload 64 KiB, error text kept to 16 KiB.

create function collab.schema_version() returns integer
  language sql immutable set search_path = ''
as $$ select 1 $$;

-- Enqueue many jobs in one statement. `jobs` is a JSON array of objects with keys
-- type, executor_id, payload, idempotency_key, priority, max_attempts, run_at.
-- Returns one row per input element, in input order: the job id, and queued=false
-- when the (executor_id, idempotency_key) already existed (then type and payload
-- must match the existing job, else CL409).
create function collab.assign_jobs_v1(jobs jsonb)
  returns table (job_id uuid, queued boolean)
  language plpgsql security definer set search_path = ''
as $$
declare
  n integer;
  new_ids uuid[];
  inserted uuid[];
  bad record;
  exec text;
begin
  if jsonb_typeof(jobs) is distinct from 'array' then
    perform collab._raise('CL400', 'jobs must be a JSON array of job objects');
  end if;
  n := jsonb_array_length(jobs);
  perform collab._check_range('number of jobs', n, 0, 10000);
  if n = 0 then
    return;
  end if;

  -- Validate every element; report the first bad one by its index.
  select t.ord, t.msg, t.code into bad
    from (
      select e.ord, case
        when jsonb_typeof(e.j) <> 'object' then 'must be a JSON object'
        when e.j ->> 'type' is null or e.j ->> 'type' !~ '^[A-Za-z0-9][A-Za-z0-9_.:@/+-]{0,199}$'
          then 'type must be 1-200 characters: letters, digits and _ . : @ / + -'
        when e.j ->> 'executor_id' is null
             or e.j ->> 'executor_id' !~ '^[A-Za-z0-9][A-Za-z0-9_.:@/+-]{0,199}$'
          then 'executor_id must be 1-200 characters: letters, digits and _ . : @ / + -'
        when jsonb_typeof(coalesce(e.j -> 'payload', '{}')) not in ('object', 'null')
          then 'payload must be a JSON object'
        when jsonb_typeof(e.j -> 'idempotency_key') not in ('string', 'null')
             or char_length(e.j ->> 'idempotency_key') not between 1 and 255
          then 'idempotency_key must be a string of 1-255 characters'
        when jsonb_typeof(e.j -> 'priority') not in ('number', 'null')
             or (e.j ->> 'priority')::numeric not between -32768 and 32767
             or (e.j ->> 'priority')::numeric % 1 <> 0
          then 'priority must be an integer between -32768 and 32767'
        when jsonb_typeof(e.j -> 'max_attempts') not in ('number', 'null')
             or (e.j ->> 'max_attempts')::numeric not between 1 and 1000
             or (e.j ->> 'max_attempts')::numeric % 1 <> 0
          then 'max_attempts must be an integer between 1 and 1000'
        when jsonb_typeof(e.j -> 'run_at') not in ('string', 'null')
          then 'run_at must be an ISO 8601 timestamp with a time zone'
        when octet_length((e.j -> 'payload')::text) > 1048576
          then 'payload is larger than 1048576 bytes'
      end as msg,
      case when octet_length((e.j -> 'payload')::text) > 1048576 then 'CL413' else 'CL400' end
        as code
      from jsonb_array_elements(jobs) with ordinality as e (j, ord)
    ) t
   where t.msg is not null
   order by t.ord
   limit 1;
  if found then
    perform collab._raise(bad.code, format('jobs[%s]: %s', bad.ord - 1, bad.msg));
  end if;

  -- run_at: parse (and bound) separately, so a malformed date gets a clear message.
  begin
    select t.ord, t.run_at into bad
      from (select e.ord, (e.j ->> 'run_at')::timestamptz as run_at
              from jsonb_array_elements(jobs) with ordinality as e (j, ord)
             where e.j ->> 'run_at' is not null) t
     where t.run_at > now() + interval '366 days' or t.run_at < '2000-01-01'::timestamptz
     order by t.ord limit 1;
  exception when others then
    perform collab._raise('CL400', 'run_at must be an ISO 8601 timestamp with a time zone');
  end;
  if found then
    perform collab._raise('CL400', format('jobs[%s]: run_at must be between 2000-01-01 and one year from now',
                                          bad.ord - 1));
  end if;

  for exec in select distinct e ->> 'executor_id' from jsonb_array_elements(jobs) e loop
    perform collab._require_member(exec, '{client,worker,admin}');
  end loop;

  -- Ids are chosen up front so each input row can be matched with its outcome.
  select array_agg(gen_random_uuid()) into new_ids from generate_series(1, n);
  with ins as (
    insert into collab.jobs (id, type, executor_id, payload, idempotency_key, priority,
                             max_attempts, next_run_at)
    select new_ids[e.ord], e.j ->> 'type', e.j ->> 'executor_id',
           coalesce(nullif(e.j -> 'payload', 'null'::jsonb), '{}'::jsonb),
           e.j ->> 'idempotency_key',
           coalesce((e.j ->> 'priority')::integer, 0),
           coalesce((e.j ->> 'max_attempts')::integer, 3),
           coalesce((e.j ->> 'run_at')::timestamptz, now())
      from jsonb_array_elements(jobs) with ordinality as e (j, ord)
     order by e.ord
    on conflict (executor_id, idempotency_key) where idempotency_key is not null do nothing
    returning id
  )
  select array_agg(id) into inserted from ins;

  if cardinality(inserted) = n then
    return query select new_ids[i], true from generate_series(1, n) as i;
    return;
  end if;

  -- Some keys existed (or repeat within the batch): answer with the existing jobs,
  -- read with a fresh snapshot so concurrent winners are visible.
  return query
    select coalesce(ins.id, old.id), ins.id is not null
      from jsonb_array_elements(jobs) with ordinality as e (j, ord)
      left join unnest(inserted) as ins (id) on ins.id = new_ids[e.ord]
      left join collab.jobs old
             on ins.id is null
            and old.executor_id = e.j ->> 'executor_id'
            and old.idempotency_key = e.j ->> 'idempotency_key'
     order by e.ord;

  select e.ord into bad
    from jsonb_array_elements(jobs) with ordinality as e (j, ord)
    join collab.jobs old
      on old.executor_id = e.j ->> 'executor_id'
     and old.idempotency_key = e.j ->> 'idempotency_key'
   where old.type <> e.j ->> 'type'
      or old.payload <> coalesce(nullif(e.j -> 'payload', 'null'::jsonb), '{}'::jsonb)
   order by e.ord limit 1;
  if found then
    perform collab._raise('CL409', format(
      'jobs[%s]: idempotency_key was already used for a job with a different type or payload',
      bad.ord - 1));
  end if;
end
$$;

-- Enqueue one job; see assign_jobs_v1.
create function collab.assign_job_v1(
  type text, executor_id text, payload jsonb default '{}'::jsonb,
  idempotency_key text default null, priority integer default 0,
  max_attempts integer default 3, run_at timestamptz default null)
  returns table (job_id uuid, queued boolean)
  language sql security definer set search_path = ''
as $$
  select a.job_id, a.queued from collab.assign_jobs_v1(jsonb_build_array(jsonb_build_object(
    'type', assign_job_v1.type, 'executor_id', assign_job_v1.executor_id,
    'payload', assign_job_v1.payload, 'idempotency_key', assign_job_v1.idempotency_key,
    'priority', assign_job_v1.priority, 'max_attempts', assign_job_v1.max_attempts,
    'run_at', assign_job_v1.run_at))) a
$$;

-- Claim up to `max_jobs` due jobs of one executor for `worker_id`, for `lease_seconds`.
-- Due means queued with next_run_at <= now(), or running with an expired lease (a
-- crashed worker's job). Highest priority first, then oldest. Each claim counts an
-- attempt. Expired leases at max_attempts are dead-lettered instead of claimed.
-- Filters: `types` (exact) and `type_prefixes`; a job matches either; both null = any.
create function collab.claim_jobs_v1(
  executor_id text, worker_id text, lease_seconds integer default 60,
  max_jobs integer default 10, type_prefixes text[] default null, types text[] default null)
  returns setof collab.jobs
  language plpgsql security definer set search_path = ''
as $$
begin
  perform collab._check_name('executor_id', executor_id);
  perform collab._check_name('worker_id', worker_id);
  perform collab._check_range('lease_seconds', lease_seconds, 1, 86400);
  perform collab._check_range('max_jobs', max_jobs, 1, 1000);
  perform collab._require_member(executor_id, '{worker,admin}');

  -- Crashed workers' jobs that used their last attempt go to the dead-letter queue.
  with exhausted as (
    update collab.jobs j
       set status = 'failed', finished_at = now(), updated_at = now(),
           last_error = format('lease of worker %s expired on attempt %s of %s',
                               j.lease_owner, j.attempts, j.max_attempts)
     where j.id in (select r.id from collab.jobs r
                     where r.executor_id = claim_jobs_v1.executor_id
                       and r.status = 'running' and r.next_run_at < now()
                       and r.attempts >= r.max_attempts
                     for update skip locked)
    returning j.*
  )
  insert into collab.job_dead_letters (job_id, type, executor_id, payload, priority,
                                       max_attempts, last_error, attempts, reason)
  select x.id, x.type, x.executor_id, x.payload, x.priority, x.max_attempts,
         x.last_error, x.attempts, 'lease_expired'
    from exhausted x;

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
  )
  update collab.jobs j
     set status = 'running', attempts = j.attempts + 1, lease_owner = worker_id,
         next_run_at = now() + make_interval(secs => lease_seconds),
         started_at = now(), updated_at = now(),
         last_error = case when j.status = 'running'
                           then format('lease of worker %s expired', j.lease_owner)
                           else j.last_error end
    from picked
   where j.id = picked.id
  returning j.*;
end
$$;

-- The seed's claim: one job or none. `type_prefix` filters by type prefix.
create function collab.claim_one_job_v3(
  executor_id text, worker_id text, lease_seconds integer default 60,
  type_prefix text default null)
  returns setof collab.jobs
  language sql security definer set search_path = ''
as $$
  select * from collab.claim_jobs_v1(
    executor_id => claim_one_job_v3.executor_id, worker_id => claim_one_job_v3.worker_id,
    lease_seconds => claim_one_job_v3.lease_seconds, max_jobs => 1,
    type_prefixes => case when claim_one_job_v3.type_prefix is null then null
                          else array[claim_one_job_v3.type_prefix] end)
$$;

-- Record success. Optional `artifacts`: JSON array of {name, path, bucket?, size?,
-- mime?, sha256?, url?}. Repeating it after it took effect returns the same job and
-- writes nothing.
create function collab.complete_job_v1(
  job_id uuid, worker_id text, result jsonb default null,
  artifacts jsonb default '[]'::jsonb, attempt integer default null)
  returns setof collab.jobs
  language plpgsql security definer set search_path = ''
as $$
declare
  j collab.jobs;
begin
  perform collab._check_size('result', result, 1048576);
  j := collab._lock_job(job_id, '{worker,admin}');
  if j.status = 'succeeded' and j.lease_owner = worker_id
     and (attempt is null or attempt = j.attempts) then
    return next j;  -- a retry of a complete that already took effect
    return;
  end if;
  perform collab._require_lease(j, worker_id, attempt);
  perform collab._insert_artifacts(j, artifacts);
  update collab.jobs
     set status = 'succeeded', result = complete_job_v1.result,
         finished_at = now(), updated_at = now()
   where id = j.id
  returning * into j;
  return next j;
end
$$;

-- Record a failure. Below max_attempts and retryable: back to queued after
-- `retry_delay_seconds` or exponential backoff. Otherwise: failed + one dead letter.
-- Repeating it after it took effect returns the same job and writes nothing.
create function collab.fail_job_v1(
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
  if coalesce(retryable, true) and j.attempts < j.max_attempts then
    update collab.jobs
       set status = 'queued', last_error = message, updated_at = now(),
           next_run_at = now() + make_interval(secs => coalesce(
             retry_delay_seconds::double precision, collab._retry_backoff_seconds(j.attempts)))
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

-- Extend the caller's lease to now() + lease_seconds.
create function collab.extend_lease_v1(
  job_id uuid, worker_id text, lease_seconds integer default 60, attempt integer default null)
  returns setof collab.jobs
  language plpgsql security definer set search_path = ''
as $$
declare
  j collab.jobs;
begin
  perform collab._check_range('lease_seconds', lease_seconds, 1, 86400);
  j := collab._lock_job(job_id, '{worker,admin}');
  perform collab._require_lease(j, worker_id, attempt);
  update collab.jobs
     set next_run_at = now() + make_interval(secs => lease_seconds), updated_at = now()
   where id = j.id
  returning * into j;
  return next j;
end
$$;

-- Append a worker event (`progress` or `log`) to a running job's event log.
create function collab.append_job_event_v1(
  job_id uuid, worker_id text, payload jsonb default '{}'::jsonb,
  event_type text default 'progress', attempt integer default null)
  returns setof collab.job_events
  language plpgsql security definer set search_path = ''
as $$
declare
  j collab.jobs;
begin
  if event_type is null or event_type not in ('progress', 'log') then
    perform collab._raise('CL400', format('event_type must be progress or log (got %s)',
                                          coalesce(quote_literal(left(event_type, 50)), 'null')));
  end if;
  if jsonb_typeof(payload) is distinct from 'object' then
    perform collab._raise('CL400', 'payload must be a JSON object');
  end if;
  perform collab._check_size('event payload', payload, 65536);
  j := collab._lock_job(job_id, '{worker,admin}');
  perform collab._require_lease(j, worker_id, attempt);
  return query
    insert into collab.job_events (job_id, executor_id, event_type, payload)
    values (j.id, j.executor_id, event_type,
            payload || jsonb_build_object('attempt', j.attempts, 'worker_id', worker_id))
    returning *;
end
$$;

-- Record artifact rows for a job (used by complete_job_v1 and add_artifacts_v1).
create function collab._insert_artifacts(j collab.jobs, artifacts jsonb) returns void
  language plpgsql set search_path = ''
as $$
declare
  bad record;
begin
  if artifacts is null or artifacts = '[]'::jsonb then
    return;
  end if;
  if jsonb_typeof(artifacts) <> 'array' then
    perform collab._raise('CL400', 'artifacts must be a JSON array');
  end if;
  perform collab._check_range('number of artifacts', jsonb_array_length(artifacts), 0, 1000);
  select t.ord, t.msg into bad from (
    select a.ord, case
      when jsonb_typeof(a.v) <> 'object' then 'must be a JSON object'
      when jsonb_typeof(a.v -> 'name') is distinct from 'string'
           or char_length(a.v ->> 'name') not between 1 and 255
        then 'name must be a string of 1-255 characters'
      when jsonb_typeof(a.v -> 'path') is distinct from 'string'
           or char_length(a.v ->> 'path') not between 1 and 1024
           or a.v ->> 'path' ~ '(^/|(^|/)\.\.(/|$)|\\|[[:cntrl:]])'
        then 'path must be a relative object path without .. segments'
      when jsonb_typeof(a.v -> 'size') not in ('number', 'null')
           or (a.v ->> 'size')::numeric < 0 or (a.v ->> 'size')::numeric % 1 <> 0
           or (a.v ->> 'size')::numeric > 9223372036854775807
        then 'size must be a non-negative integer'
      when jsonb_typeof(a.v -> 'sha256') not in ('string', 'null')
           or (a.v ->> 'sha256') !~ '^[0-9a-f]{64}$'
        then 'sha256 must be 64 lowercase hex digits'
      when jsonb_typeof(a.v -> 'bucket') not in ('string', 'null')
           or (a.v ->> 'bucket') !~ '^[a-z0-9][a-z0-9_.-]{0,62}$'
        then 'bucket must be 1-63 characters: lowercase letters, digits and _ . -'
    end as msg
    from jsonb_array_elements(artifacts) with ordinality as a (v, ord)) t
  where t.msg is not null order by t.ord limit 1;
  if found then
    perform collab._raise('CL400', format('artifacts[%s]: %s', bad.ord - 1, bad.msg));
  end if;
  insert into collab.artifacts (job_id, executor_id, bucket, path, name, size, mime, sha256, url)
  select j.id, j.executor_id, coalesce(a.v ->> 'bucket', 'artifacts'), a.v ->> 'path',
         a.v ->> 'name', (a.v ->> 'size')::bigint, left(a.v ->> 'mime', 255),
         a.v ->> 'sha256', left(a.v ->> 'url', 4096)
    from jsonb_array_elements(artifacts) as a (v)
  on conflict (bucket, path) do update
     set name = excluded.name, size = excluded.size, mime = excluded.mime,
         sha256 = excluded.sha256, url = excluded.url, created_at = now()
   where collab.artifacts.job_id = excluded.job_id;
end
$$;

-- Record artifacts of a job outside complete (e.g. uploaded while it runs). A worker
-- passes its worker_id and must hold the lease; other members need no lease.
create function collab.add_artifacts_v1(
  job_id uuid, artifacts jsonb, worker_id text default null)
  returns setof collab.artifacts
  language plpgsql security definer set search_path = ''
as $$
declare
  j collab.jobs;
begin
  if worker_id is null then
    j := collab._lock_job(job_id, '{client,worker,admin}');
  else
    j := collab._lock_job(job_id, '{worker,admin}');
    perform collab._require_lease(j, worker_id, null);
  end if;
  perform collab._insert_artifacts(j, artifacts);
  return query select * from collab.artifacts a where a.job_id = j.id order by a.created_at, a.id;
end
$$;

-- Cancel a queued or running job. A running job's worker loses its lease.
create function collab.cancel_job_v1(job_id uuid, reason text default null)
  returns setof collab.jobs
  language plpgsql security definer set search_path = ''
as $$
declare
  j collab.jobs;
begin
  j := collab._lock_job(job_id, '{client,worker,admin}', '{queued,running}', 'cancel');
  update collab.jobs
     set status = 'cancelled', finished_at = now(), updated_at = now(),
         last_error = coalesce(left(reason, 16384), last_error)
   where id = j.id
  returning * into j;
  return next j;
end
$$;

-- Reset a failed, succeeded or cancelled job to queued with attempts 0 (settling its
-- open dead letter, if any).
create function collab.retry_job_v1(job_id uuid)
  returns setof collab.jobs
  language plpgsql security definer set search_path = ''
as $$
declare
  j collab.jobs;
begin
  j := collab._lock_job(job_id, '{client,worker,admin}', '{failed,succeeded,cancelled}', 'retry');
  update collab.jobs
     set status = 'queued', attempts = 0, next_run_at = now(), lease_owner = null,
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

-- Delete a job that is not running, with its events and artifacts rows.
create function collab.delete_job_v1(job_id uuid)
  returns setof collab.jobs
  language plpgsql security definer set search_path = ''
as $$
declare
  j collab.jobs;
begin
  -- A running job is cancelled first, so its worker is told (lease lost) rather than
  -- finding its job gone.
  j := collab._lock_job(job_id, '{client,worker,admin}', '{queued,succeeded,failed,cancelled}', 'delete');
  delete from collab.jobs where id = j.id;
  delete from collab.job_events e where e.job_id = j.id;
  return next j;
end
$$;

-- Delete finished jobs (by default: succeeded) that finished more than
-- `older_than_seconds` ago; of one executor or all. Users need the admin role.
create function collab.purge_jobs_v1(
  older_than_seconds integer default 0, executor_id text default null,
  statuses text[] default '{succeeded}')
  returns integer
  language plpgsql security definer set search_path = ''
as $$
declare
  purged integer;
begin
  perform collab._check_range('older_than_seconds', older_than_seconds, 0, 2147483647);
  if statuses is null or cardinality(statuses) = 0
     or not statuses <@ array['succeeded', 'failed', 'cancelled'] then
    perform collab._raise('CL400', 'statuses must be a non-empty subset of succeeded, failed, cancelled');
  end if;
  if executor_id is not null then
    perform collab._require_member(executor_id, '{admin}');
  elsif not collab._caller_is_trusted() then
    perform collab._raise('CL403', 'not allowed: purging every executor needs the service role; pass executor_id');
  end if;
  with gone as (
    delete from collab.jobs j
     where j.status = any (statuses)
       and j.finished_at < now() - make_interval(secs => older_than_seconds)
       and (purge_jobs_v1.executor_id is null or j.executor_id = purge_jobs_v1.executor_id)
    returning j.id
  ), events as (
    delete from collab.job_events e using gone where e.job_id = gone.id
  )
  select count(*) into purged from gone;
  return purged;
end
$$;

-- Retry a dead letter: a new job with the same type, executor and payload. Exactly
-- once per dead letter: a second call returns the first call's job with queued=false.
create function collab.dlq_retry_v1(dead_letter_id uuid)
  returns table (job_id uuid, queued boolean)
  language plpgsql security definer set search_path = ''
as $$
declare
  d collab.job_dead_letters;
  new_id uuid;
begin
  select * into d from collab.job_dead_letters where id = dead_letter_id for update;
  if not found or not collab._caller_can_see(d.executor_id) then
    perform collab._raise('CL404', format('dead letter %s not found', dead_letter_id));
  end if;
  perform collab._require_member(d.executor_id, '{client,worker,admin}');
  if d.retried_at is not null then
    return query select d.retried_job_id, false;
    return;
  end if;
  insert into collab.jobs (type, executor_id, payload, priority, max_attempts)
  values (d.type, d.executor_id, d.payload, d.priority, d.max_attempts)
  returning id into new_id;
  update collab.job_dead_letters set retried_at = now(), retried_job_id = new_id where id = d.id;
  -- The original job does not change state; its log still records the retry.
  insert into collab.job_events (job_id, executor_id, event_type, payload)
  select d.job_id, d.executor_id, 'retried',
         jsonb_build_object('dead_letter_id', d.id, 'retried_job_id', new_id)
   where d.job_id is not null;
  return query select new_id, true;
end
$$;

-- Upsert a worker's heartbeat (the presence mirror).
create function collab.worker_heartbeat_v1(
  worker_id text, executor_id text, status text default 'idle', version text default null,
  capacity integer default 1, running integer default 0, metadata jsonb default '{}'::jsonb)
  returns setof collab.worker_heartbeats_v2
  language plpgsql security definer set search_path = ''
as $$
declare
  hb collab.worker_heartbeats_v2;
begin
  perform collab._check_name('worker_id', worker_id);
  perform collab._check_name('executor_id', executor_id);
  if status is null or status !~ '^[a-z][a-z_]{0,31}$' then
    perform collab._raise('CL400', 'status must be 1-32 lowercase letters or _ (e.g. idle, busy, stopped)');
  end if;
  perform collab._check_range('capacity', capacity, 0, 100000);
  perform collab._check_range('running', running, 0, 100000);
  if jsonb_typeof(coalesce(metadata, '{}'::jsonb)) <> 'object' then
    perform collab._raise('CL400', 'metadata must be a JSON object');
  end if;
  perform collab._check_size('metadata', metadata, 16384);
  perform collab._require_member(executor_id, '{worker,admin}');
  insert into collab.worker_heartbeats_v2 as w
         (worker_id, executor_id, status, version, capacity, running, metadata)
  values (worker_id, executor_id, status, left(version, 100), capacity, running,
          coalesce(metadata, '{}'::jsonb))
  on conflict on constraint worker_heartbeats_v2_pkey do update
     set status = excluded.status, version = excluded.version, capacity = excluded.capacity,
         running = excluded.running, metadata = excluded.metadata, last_seen_at = now()
   where w.executor_id = excluded.executor_id
  returning * into hb;
  if not found then
    perform collab._raise('CL409', format('worker_id %s is registered to another executor', worker_id));
  end if;
  return next hb;
end
$$;

-- Membership management: the service role, or an admin of the executor.
create function collab.add_executor_member_v1(executor_id text, user_id uuid, role text default 'client')
  returns setof collab.executor_members
  language plpgsql security definer set search_path = ''
as $$
begin
  perform collab._check_name('executor_id', executor_id);
  if role is null or role not in ('client', 'worker', 'admin') then
    perform collab._raise('CL400', 'role must be client, worker or admin');
  end if;
  perform collab._require_member(executor_id, '{admin}');
  return query
    insert into collab.executor_members as m (executor_id, user_id, role)
    values (executor_id, user_id, role)
    on conflict on constraint executor_members_pkey do update set role = excluded.role
    returning *;
end
$$;

create function collab.remove_executor_member_v1(executor_id text, user_id uuid)
  returns boolean
  language plpgsql security definer set search_path = ''
as $$
begin
  perform collab._require_member(executor_id, '{admin}');
  delete from collab.executor_members m
   where m.executor_id = remove_executor_member_v1.executor_id
     and m.user_id = remove_executor_member_v1.user_id;
  return found;
end
$$;
