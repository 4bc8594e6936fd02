-- collab: faster hot paths (issue 2's benchmark). Same signatures, same semantics.
--
-- Where the time went, and what changed:
-- * SQL-language functions with `set search_path` are never inlined, so PostgreSQL
--   parses and plans their body on every call (plpgsql caches its plans). The caller
--   checks (_caller_is_trusted via auth.role(), _caller_can_see, _require_member) ran
--   two or three times per RPC at ~0.1 ms each, and the wrappers claim_one_job_v3 and
--   assign_job_v1 were planned on every call too. They are plpgsql now, the caller is
--   resolved once per call, and the JWT role claim is read the way auth.role() reads it.
-- * A regular expression with a counted repetition (`{0,199}`) builds a large automaton
--   on every match (~9 us per name); names are checked with `*` and char_length.
-- * gen_random_uuid() reads the kernel's random source once per call (~4 us here).
--   assign_jobs_v1 draws one per batch and derives time-ordered ids (UUID version 7)
--   from it, so the primary key and the claim index are appended to, not written at
--   random places.
-- * The claim's dead-letter UPDATE ran even when nothing had expired, firing the update
--   trigger a second time on every claim: it is now guarded by an index probe.
-- * The update trigger's plan, cached with the row estimate of its first call, joined
--   the transition tables with a nested loop: quadratic in a batch. No nested loops there.
-- * complete_jobs_v1 read the jobs of a batch through a plan that could scan the whole
--   table; it now updates the listed jobs directly and reads replays only when some
--   listed job was not completed by this call.

-- Callers -------------------------------------------------------------------------

create or replace function collab._caller_is_trusted() returns boolean
  language plpgsql stable set search_path = ''
as $$
begin
  -- The JWT role claim as auth.role() reads it (the claim setting, else the claims).
  return coalesce(nullif(current_setting('role', true), 'none'), session_user::text)
           not in ('authenticated', 'anon')
     and coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
                  nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role', '')
           not in ('authenticated', 'anon');
end
$$;

create or replace function collab._require_member(executor_id text, roles text[]) returns void
  language plpgsql stable set search_path = ''
as $$
declare
  uid uuid;
begin
  if collab._caller_is_trusted() then
    return;
  end if;
  uid := auth.uid();
  if uid is null then
    perform collab._raise('CL403', 'not authenticated: the JWT has no sub claim');
  end if;
  if not exists (select 1 from collab.executor_members m
                  where m.executor_id = _require_member.executor_id
                    and m.user_id = uid and m.role = any (roles)) then
    perform collab._raise('CL403', format('not allowed: caller is not a %s of executor %s',
                                          array_to_string(roles, ' or '), executor_id));
  end if;
end
$$;

create or replace function collab._caller_can_see(executor_id text) returns boolean
  language plpgsql stable set search_path = ''
as $$
begin
  return collab._caller_is_trusted()
      or exists (select 1 from collab.executor_members m
                  where m.executor_id = _caller_can_see.executor_id and m.user_id = auth.uid());
end
$$;

-- One membership lookup: not a member at all is "not found", a member without one of
-- `roles` is forbidden.
create or replace function collab._lock_job(job_id uuid, roles text[], allowed_statuses text[] default null,
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

-- Validation ----------------------------------------------------------------------

create or replace function collab._check_name(what text, value text) returns void
  language plpgsql immutable set search_path = ''
as $$
begin
  if value is null or value !~ '^[A-Za-z0-9][A-Za-z0-9_.:@/+-]*$' or char_length(value) > 200 then
    perform collab._raise('CL400', format(
      '%s must be 1-200 characters: letters, digits and _ . : @ / + - (got %s)',
      what, coalesce(quote_literal(left(value, 50)), 'null')));
  end if;
end
$$;

-- Triggers ------------------------------------------------------------------------

-- The update trigger joins its two transition tables. plpgsql caches the plan with the
-- row estimate of the first call in the session (often a claim of one job, or an UPDATE
-- that matched nothing), which gave a nested loop, quadratic in a batch of 1,000.
alter function collab._jobs_after_update() set enable_nestloop = off;

-- Enqueue -------------------------------------------------------------------------

create or replace function collab.assign_jobs_v1(jobs jsonb)
  returns table (job_id uuid, queued boolean)
  language plpgsql security definer set search_path = ''
as $$
declare
  n integer;
  new_ids uuid[];
  inserted uuid[];
  bad record;
  exec text;
  seed text;
  prefix text;
  base bigint;
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
        when e.j ->> 'type' is null or e.j ->> 'type' !~ '^[A-Za-z0-9][A-Za-z0-9_.:@/+-]*$'
             or char_length(e.j ->> 'type') > 200
          then 'type must be 1-200 characters: letters, digits and _ . : @ / + -'
        when e.j ->> 'executor_id' is null
             or e.j ->> 'executor_id' !~ '^[A-Za-z0-9][A-Za-z0-9_.:@/+-]*$'
             or char_length(e.j ->> 'executor_id') > 200
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

  if not collab._caller_is_trusted() then
    for exec in select distinct e ->> 'executor_id' from jsonb_array_elements(jobs) e loop
      perform collab._require_member(exec, '{client,worker,admin}');
    end loop;
  end if;

  -- Ids are chosen up front so each input row can be matched with its outcome. They are
  -- UUID version 7: 48 bits of Unix milliseconds, the version, 12 random bits, the
  -- variant, and 62 random bits counted up along the batch (RFC 9562, monotonic random).
  seed := encode(uuid_send(gen_random_uuid()), 'hex');
  prefix := lpad(to_hex(floor(extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0')
            || '7' || substr(seed, 1, 3);
  base := ('x' || substr(seed, 17, 16))::bit(64)::bigint & 4611686018427387903;  -- 2^62 - 1
  select array_agg((prefix || to_hex(((base + i) & 4611686018427387903) | -9223372036854775808))::uuid
                   order by i)
    into new_ids from generate_series(1, n) as i;
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

create or replace function collab.assign_job_v1(
  type text, executor_id text, payload jsonb default '{}'::jsonb,
  idempotency_key text default null, priority integer default 0,
  max_attempts integer default 3, run_at timestamptz default null)
  returns table (job_id uuid, queued boolean)
  language plpgsql security definer set search_path = ''
as $$
begin
  return query
  select a.job_id, a.queued from collab.assign_jobs_v1(jsonb_build_array(jsonb_build_object(
    'type', assign_job_v1.type, 'executor_id', assign_job_v1.executor_id,
    'payload', assign_job_v1.payload, 'idempotency_key', assign_job_v1.idempotency_key,
    'priority', assign_job_v1.priority, 'max_attempts', assign_job_v1.max_attempts,
    'run_at', assign_job_v1.run_at))) a;
end
$$;

-- Claim ---------------------------------------------------------------------------

create or replace function collab.claim_jobs_v1(
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
       where j.id in (select r.id from collab.jobs r
                       where r.executor_id = claim_jobs_v1.executor_id
                         and r.lease_until < now() and r.attempts >= r.max_attempts
                       for update skip locked)
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

create or replace function collab.claim_one_job_v3(
  executor_id text, worker_id text, lease_seconds integer default 60,
  type_prefix text default null)
  returns setof collab.jobs
  language plpgsql security definer set search_path = ''
as $$
begin
  return query
  select * from collab.claim_jobs_v1(
    executor_id => claim_one_job_v3.executor_id, worker_id => claim_one_job_v3.worker_id,
    lease_seconds => claim_one_job_v3.lease_seconds, max_jobs => 1,
    type_prefixes => case when claim_one_job_v3.type_prefix is null then null
                          else array[claim_one_job_v3.type_prefix] end);
end
$$;

-- Complete ------------------------------------------------------------------------

-- The common case first: one statement that locks the job by id and completes it only
-- when the caller may act on it and the worker holds a live lease. Anything else (unknown
-- job, replay, lost lease, missing role) takes the original path, which tells them apart.
-- The conditions test the locked row (`target`), not the updated one: a status condition
-- on the updated table would let the planner use the claim index, which it takes for
-- free when its statistics were gathered while the queue was empty.
create or replace function collab.complete_job_v1(
  job_id uuid, worker_id text, result jsonb default null,
  artifacts jsonb default '[]'::jsonb, attempt integer default null)
  returns setof collab.jobs
  language plpgsql security definer set search_path = ''
as $$
declare
  j collab.jobs;
  trusted boolean;
begin
  if result is not null then
    perform collab._check_size('result', result, 1048576);
  end if;
  trusted := collab._caller_is_trusted();
  with target as materialized (
    select t.id, t.executor_id, t.status, t.lease_owner, t.next_run_at, t.attempts
      from collab.jobs t where t.id = complete_job_v1.job_id
       for update
  )
  update collab.jobs u
     set status = 'succeeded', result = complete_job_v1.result,
         finished_at = now(), updated_at = now()
    from target t
   where u.id = t.id and t.status = 'running'
     and t.lease_owner = complete_job_v1.worker_id and t.next_run_at >= now()
     and (complete_job_v1.attempt is null or t.attempts = complete_job_v1.attempt)
     and (trusted or exists (select 1 from collab.executor_members m
                              where m.executor_id = t.executor_id and m.user_id = auth.uid()
                                and m.role in ('worker', 'admin')))
  returning u.* into j;
  if found then
    perform collab._insert_artifacts(j, artifacts);
    return next j;
    return;
  end if;

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

create or replace function collab.complete_jobs_v1(worker_id text, completions jsonb)
  returns setof collab.jobs
  language plpgsql security definer set search_path = ''
as $$
declare
  trusted boolean := collab._caller_is_trusted();
  n integer;
  bad record;
begin
  perform collab._check_name('worker_id', worker_id);
  if jsonb_typeof(completions) is distinct from 'array' then
    perform collab._raise('CL400', 'completions must be a JSON array of {job_id, result?, attempt?}');
  end if;
  n := jsonb_array_length(completions);
  perform collab._check_range('number of completions', n, 0, 1000);
  -- A canonical uuid is recognised without a regular expression (which costs ~4 us);
  -- other spellings still go through the original pattern.
  select t.ord, t.msg into bad from (
  select c.ord, case
      when jsonb_typeof(c.v) <> 'object' then 'must be a JSON object'
      when c.v ->> 'job_id' is null
           or not ((char_length(c.v ->> 'job_id') = 36
                    and c.v ->> 'job_id' like '________-____-____-____-____________'
                    and char_length(replace(c.v ->> 'job_id', '-', '')) = 32
                    and c.v ->> 'job_id' !~ '[^0-9a-fA-F-]')
                   or c.v ->> 'job_id' ~* '^[0-9a-f]{8}-?([0-9a-f]{4}-?){3}[0-9a-f]{12}$')
        then 'job_id must be a uuid'
      when jsonb_typeof(c.v -> 'attempt') not in ('number', 'null')
           or (c.v ->> 'attempt')::numeric not between 1 and 1000
           or (c.v ->> 'attempt')::numeric % 1 <> 0 then 'attempt must be an integer between 1 and 1000'
      when octet_length((c.v -> 'result')::text) > 1048576 then 'result is larger than 1048576 bytes'
    end as msg
    from jsonb_array_elements(completions) with ordinality as c (v, ord)) t
   where t.msg is not null
   order by t.ord
   limit 1;
  if found then
    perform collab._raise(case when bad.msg like 'result%' then 'CL413' else 'CL400' end,
                          format('completions[%s]: %s', bad.ord - 1, bad.msg));
  end if;

  -- One statement, one snapshot: the replay branch reads the jobs as they were before
  -- this call's update, and runs only when the update completed fewer jobs than listed.
  -- The jobs are locked by id first (see complete_job_v1 for why conditions test them).
  return query
  with input as materialized (
    select (c.v ->> 'job_id')::uuid as id, nullif(c.v -> 'result', 'null'::jsonb) as result,
           (c.v ->> 'attempt')::integer as attempt
      from jsonb_array_elements(completions) as c (v)
  ), target as materialized (
    select t.id, t.executor_id, t.status, t.lease_owner, t.next_run_at, t.attempts
      from collab.jobs t where t.id = any (array(select i.id from input i))
       for update
  ), done as (
    update collab.jobs u
       set status = 'succeeded', result = i.result, finished_at = now(), updated_at = now()
      from input i join target t on t.id = i.id
     where u.id = t.id and t.status = 'running' and t.lease_owner = complete_jobs_v1.worker_id
       and t.next_run_at >= now() and (i.attempt is null or i.attempt = t.attempts)
       and (trusted
            or exists (select 1 from collab.executor_members m
                        where m.executor_id = t.executor_id and m.user_id = auth.uid()
                          and m.role in ('worker', 'admin')))
    returning u.*
  )
  select * from done
  union all
  select j.* from input i join collab.jobs j on j.id = i.id
   where (select count(*) from done) < n
     and j.status = 'succeeded' and j.lease_owner = complete_jobs_v1.worker_id
     and (i.attempt is null or i.attempt = j.attempts)
     and (trusted
          or exists (select 1 from collab.executor_members m
                      where m.executor_id = j.executor_id and m.user_id = auth.uid()
                        and m.role in ('worker', 'admin')));
end
$$;
