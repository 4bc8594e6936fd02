CREATE SCHEMA collab;

COMMENT ON SCHEMA collab IS 'collab job queue: tables and RPCs (see docs/rpc.md)';

CREATE FUNCTION collab._caller_can_see(executor_id text) RETURNS boolean
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  return collab._caller_is_trusted()
      or exists (select 1 from collab.executor_members m
                  where m.executor_id = _caller_can_see.executor_id and m.user_id = auth.uid());
end
$$;

CREATE FUNCTION collab._caller_is_trusted() RETURNS boolean
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  -- The JWT role claim as auth.role() reads it (the claim setting, else the claims).
  return coalesce(nullif(current_setting('role', true), 'none'), session_user::text)
           not in ('authenticated', 'anon')
     and coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
                  nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role', '')
           not in ('authenticated', 'anon');
end
$$;

CREATE FUNCTION collab._check_name(what text, value text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $_$
begin
  if value is null or value !~ '^[A-Za-z0-9][A-Za-z0-9_.:@/+-]*$' or char_length(value) > 200 then
    perform collab._raise('CL400', format(
      '%s must be 1-200 characters: letters, digits and _ . : @ / + - (got %s)',
      what, coalesce(quote_literal(left(value, 50)), 'null')));
  end if;
end
$_$;

CREATE FUNCTION collab._check_range(what text, value integer, lo integer, hi integer) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
begin
  if value is null or value < lo or value > hi then
    perform collab._raise('CL400', format('%s must be between %s and %s (got %s)',
                                          what, lo, hi, coalesce(value::text, 'null')));
  end if;
end
$$;

CREATE FUNCTION collab._check_size(what text, value jsonb, max_bytes integer) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
begin
  if value is not null and octet_length(value::text) > max_bytes then
    perform collab._raise('CL413', format('%s is larger than %s bytes', what, max_bytes));
  end if;
end
$$;

CREATE FUNCTION collab._cursor_decode(cursor text, OUT ts timestamp with time zone, OUT id uuid) RETURNS record
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $_$
begin
  if cursor is null then
    return;
  end if;
  if cursor ~ '~[0-9a-fA-F-]{36}$' then
    ts := left(cursor, -37)::timestamptz;
    id := right(cursor, 36)::uuid;
  else
    ts := cursor::timestamptz;
  end if;
exception when others then
  perform collab._raise('CL400', format(
    'invalid cursor %s: pass the nextCursor of the previous page, or an ISO timestamp',
    quote_literal(left(cursor, 80))));
end
$_$;

CREATE FUNCTION collab._cursor_encode(ts timestamp with time zone, id uuid) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select to_char(ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '~' || id::text
$$;

CREATE FUNCTION collab._event_horizon(after_seq bigint, horizon_seq bigint, horizon_xid xid8, OUT safe_seq bigint, OUT next_horizon_seq bigint, OUT next_horizon_xid xid8) RETURNS record
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  last_drawn bigint;
  bound xid8;
begin
  if current_setting('transaction_isolation') <> 'read committed' then
    perform collab._raise('CL400', 'the event stream needs read committed isolation (each '
                          || 'statement must see transactions that committed before it)');
  end if;
  safe_seq := coalesce(after_seq, 0);
  if horizon_seq is not null and horizon_xid is not null and collab._xids_settled(horizon_xid) then
    safe_seq := greatest(safe_seq, horizon_seq);
    horizon_seq := null;
  end if;
  select case when s.is_called then s.last_value else s.last_value - 1 end
    into last_drawn from collab.job_events_seq_seq s;
  select coalesce(max(r.seq), safe_seq) into safe_seq
    from (select e.seq, e.seq - row_number() over (order by e.seq) as base
            from (select j.seq from collab.job_events j
                   where j.seq > safe_seq order by j.seq limit 10000) e) r
   where r.base = safe_seq;
  if safe_seq >= last_drawn then
    return;  -- every seq drawn so far is visible: nothing pending
  end if;
  bound := collab._xid_upper_bound();  -- read after last_drawn: covers whoever holds one
  if collab._xids_settled(bound) then
    safe_seq := last_drawn;
  elsif horizon_seq is not null and horizon_seq > safe_seq then
    next_horizon_seq := horizon_seq;  -- the older horizon settles first
    next_horizon_xid := horizon_xid;
  else
    next_horizon_seq := last_drawn;
    next_horizon_xid := bound;
  end if;
end
$$;

CREATE FUNCTION collab._event_listeners_present() RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  if pg_try_advisory_lock(6176005410530163403) then
    perform pg_advisory_unlock(6176005410530163403);
    return false;
  end if;
  return true;  -- held shared by a listener (or, for an instant, by another writer's probe)
end
$$;

CREATE TABLE collab.jobs (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    type text NOT NULL,
    executor_id text NOT NULL,
    status text DEFAULT 'queued'::text NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    result jsonb,
    last_error text,
    priority integer DEFAULT 0 NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    max_attempts integer DEFAULT 3 NOT NULL,
    idempotency_key text,
    lease_owner text,
    next_run_at timestamp with time zone DEFAULT now() NOT NULL,
    lease_until timestamp with time zone GENERATED ALWAYS AS (
CASE
    WHEN (status = 'running'::text) THEN next_run_at
    ELSE NULL::timestamp with time zone
END) STORED,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    started_at timestamp with time zone,
    finished_at timestamp with time zone,
    CONSTRAINT jobs_attempts_check CHECK ((attempts >= 0)),
    CONSTRAINT jobs_executor_id_check CHECK (((char_length(executor_id) >= 1) AND (char_length(executor_id) <= 200))),
    CONSTRAINT jobs_idempotency_key_check CHECK (((char_length(idempotency_key) >= 1) AND (char_length(idempotency_key) <= 255))),
    CONSTRAINT jobs_max_attempts_check CHECK (((max_attempts >= 1) AND (max_attempts <= 1000))),
    CONSTRAINT jobs_running_has_owner CHECK (((status <> 'running'::text) OR (lease_owner IS NOT NULL))),
    CONSTRAINT jobs_status_check CHECK ((status = ANY (ARRAY['queued'::text, 'running'::text, 'succeeded'::text, 'failed'::text, 'cancelled'::text]))),
    CONSTRAINT jobs_type_check CHECK (((char_length(type) >= 1) AND (char_length(type) <= 200)))
);

COMMENT ON TABLE collab.jobs IS 'One row per job; status queued|running|succeeded|failed|cancelled';

CREATE FUNCTION collab._insert_artifacts(j collab.jobs, artifacts jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $_$
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
$_$;

CREATE FUNCTION collab._job_events_notify() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION collab._job_events_take_xid() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  perform pg_current_xact_id();
  return null;
end
$$;

CREATE FUNCTION collab._jobs_after_insert() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  insert into collab.job_events (job_id, executor_id, event_type, payload)
  select n.id, n.executor_id, 'queued',
         jsonb_build_object('type', n.type, 'priority', n.priority, 'run_at', n.next_run_at)
    from new_rows n;
  perform collab._notify_claimable(
    (select array_agg(distinct n.executor_id) from new_rows n where n.next_run_at <= now()));
  return null;
end
$$;

CREATE FUNCTION collab._jobs_after_update() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    SET enable_nestloop TO 'off'
    AS $$
declare
  woken text[];
begin
  with changed as materialized (
    select n.id, n.executor_id, n.status, n.next_run_at, o.status as old_status,
           case
             when n.status = 'running' and n.attempts > o.attempts then 'claimed'
             when o.status = 'running' and n.status = 'succeeded' then 'succeeded'
             when o.status = 'running' and n.status = 'queued' then 'retry_scheduled'
             when o.status <> 'failed' and n.status = 'failed' then 'failed'
             when o.status <> 'cancelled' and n.status = 'cancelled' then 'cancelled'
             when o.status in ('succeeded', 'failed', 'cancelled') and n.status = 'queued' then 'retried'
           end as event_type,
           case
             when n.status = 'running' then
               jsonb_build_object('attempt', n.attempts, 'worker_id', n.lease_owner,
                                  'lease_until', n.lease_until, 'previous_status', o.status)
             when n.status = 'queued' and o.status = 'running' then
               jsonb_build_object('attempt', n.attempts, 'error', left(n.last_error, 2000),
                                  'next_run_at', n.next_run_at)
             when n.status = 'failed' then
               jsonb_build_object('attempt', n.attempts, 'error', left(n.last_error, 2000))
             else
               jsonb_build_object('attempt', n.attempts, 'previous_status', o.status)
           end as payload
      from new_rows n join old_rows o on o.id = n.id
  ), logged as (
    insert into collab.job_events (job_id, executor_id, event_type, payload)
    select c.id, c.executor_id, c.event_type, c.payload
      from changed c where c.event_type is not null
     order by c.id
  )
  select array_agg(distinct c.executor_id) into woken
    from changed c
   where c.status = 'queued' and c.old_status <> 'queued' and c.next_run_at <= now();
  perform collab._notify_claimable(woken);
  return null;
end
$$;

CREATE FUNCTION collab._lock_job(job_id uuid, roles text[], allowed_statuses text[] DEFAULT NULL::text[], verb text DEFAULT NULL::text) RETURNS collab.jobs
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION collab._notify_claimable(executor_ids text[]) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  if executor_ids is null or cardinality(executor_ids) = 0 then
    return;
  end if;
  if cardinality(executor_ids) > 8 then
    perform pg_notify('collab_jobs', '*');
  else
    perform pg_notify('collab_jobs', e) from unnest(executor_ids) as e;
  end if;
end
$$;

CREATE FUNCTION collab._page(rows jsonb, n integer, page_size integer) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select case when n > page_size then
    jsonb_build_object(
      'items', rows - page_size, 'count', page_size,
      'nextCursor', collab._cursor_encode((rows -> (page_size - 1) ->> 'created_at')::timestamptz,
                                          (rows -> (page_size - 1) ->> 'id')::uuid))
  else
    jsonb_build_object('items', rows, 'count', n, 'nextCursor', null)
  end
$$;

CREATE FUNCTION collab._raise(code text, message text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
begin
  raise exception using errcode = code, message = message;
end
$$;

CREATE FUNCTION collab._require_lease(j collab.jobs, worker_id text, attempt integer) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  if j.status <> 'running' or j.lease_owner is distinct from worker_id
     or j.lease_until < now() or (attempt is not null and attempt <> j.attempts) then
    perform collab._raise('CL410', format(
      'lease lost: job %s is %s (attempt %s), leased by %s until %s; worker %s cannot change it',
      j.id, j.status, j.attempts, coalesce(j.lease_owner, 'nobody'),
      coalesce(j.lease_until::text, '-'), worker_id));
  end if;
end
$$;

CREATE FUNCTION collab._require_member(executor_id text, roles text[]) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION collab._require_visible_job(job_id uuid) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  if not exists (select 1 from collab.jobs j where j.id = _require_visible_job.job_id) then
    perform collab._raise('CL404', format('job %s not found', job_id));
  end if;
end
$$;

CREATE FUNCTION collab._retry_backoff_seconds(attempt integer) RETURNS double precision
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  select least(3600.0, 5.0 * power(2.0, greatest(attempt, 1) - 1)) * (0.75 + 0.25 * random())
$$;

CREATE FUNCTION collab._xid_upper_bound() RETURNS xid8
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  ref xid8 := pg_snapshot_xmax(pg_current_snapshot());
  low bigint := (ref::text::numeric % 4294967296)::bigint;
  ahead bigint;
begin
  select max((l.transactionid::text::bigint - low + 6442450944) % 4294967296 - 2147483648)
    into ahead
    from pg_catalog.pg_locks l
   where l.locktype = 'transactionid' and l.mode = 'ExclusiveLock' and l.granted;
  if ahead is null or ahead < 0 then
    return ref;
  end if;
  return (ref::text::numeric + ahead + 1)::text::xid8;
end
$$;

CREATE FUNCTION collab._xids_settled(xid xid8) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  return pg_snapshot_xmin(pg_current_snapshot()) >= xid;
end
$$;

CREATE TABLE collab.artifacts (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    job_id uuid NOT NULL,
    executor_id text NOT NULL,
    bucket text DEFAULT 'artifacts'::text NOT NULL,
    path text NOT NULL,
    name text NOT NULL,
    size bigint,
    mime text,
    sha256 text,
    url text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT artifacts_name_check CHECK (((char_length(name) >= 1) AND (char_length(name) <= 255))),
    CONSTRAINT artifacts_path_check CHECK (((char_length(path) >= 1) AND (char_length(path) <= 1024))),
    CONSTRAINT artifacts_sha256_check CHECK ((sha256 ~ '^[0-9a-f]{64}$'::text)),
    CONSTRAINT artifacts_size_check CHECK ((size >= 0))
);

CREATE FUNCTION collab.add_artifacts_v1(job_id uuid, artifacts jsonb, worker_id text DEFAULT NULL::text) RETURNS SETOF collab.artifacts
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

CREATE TABLE collab.executor_members (
    executor_id text NOT NULL,
    user_id uuid NOT NULL,
    role text DEFAULT 'client'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT executor_members_role_check CHECK ((role = ANY (ARRAY['client'::text, 'worker'::text, 'admin'::text])))
);

CREATE FUNCTION collab.add_executor_member_v1(executor_id text, user_id uuid, role text DEFAULT 'client'::text) RETURNS SETOF collab.executor_members
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

CREATE TABLE collab.job_events (
    seq bigint NOT NULL,
    job_id uuid NOT NULL,
    executor_id text NOT NULL,
    event_type text NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    xact_id xid8 DEFAULT pg_current_xact_id() NOT NULL
);

CREATE FUNCTION collab.append_job_event_v1(job_id uuid, worker_id text, payload jsonb DEFAULT '{}'::jsonb, event_type text DEFAULT 'progress'::text, attempt integer DEFAULT NULL::integer) RETURNS SETOF collab.job_events
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION collab.artifacts_by_job_v1(job_id uuid) RETURNS SETOF collab.artifacts
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  perform collab._require_visible_job(job_id);
  return query
    select * from collab.artifacts a
     where a.job_id = artifacts_by_job_v1.job_id
     order by a.created_at, a.id;
end
$$;

CREATE FUNCTION collab.assign_job_v1(type text, executor_id text, payload jsonb DEFAULT '{}'::jsonb, idempotency_key text DEFAULT NULL::text, priority integer DEFAULT 0, max_attempts integer DEFAULT 3, run_at timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS TABLE(job_id uuid, queued boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return query
  select a.job_id, a.queued from collab.assign_jobs_v1(jsonb_build_array(jsonb_build_object(
    'type', assign_job_v1.type, 'executor_id', assign_job_v1.executor_id,
    'payload', assign_job_v1.payload, 'idempotency_key', assign_job_v1.idempotency_key,
    'priority', assign_job_v1.priority, 'max_attempts', assign_job_v1.max_attempts,
    'run_at', assign_job_v1.run_at))) a;
end
$$;

CREATE FUNCTION collab.assign_jobs_v1(jobs jsonb) RETURNS TABLE(job_id uuid, queued boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $_$
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
$_$;

CREATE FUNCTION collab.cancel_job_v1(job_id uuid, reason text DEFAULT NULL::text) RETURNS SETOF collab.jobs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION collab.claim_jobs_v1(executor_id text, worker_id text, lease_seconds integer DEFAULT 60, max_jobs integer DEFAULT 10, type_prefixes text[] DEFAULT NULL::text[], types text[] DEFAULT NULL::text[]) RETURNS SETOF collab.jobs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
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

CREATE FUNCTION collab.claim_one_job_v3(executor_id text, worker_id text, lease_seconds integer DEFAULT 60, type_prefix text DEFAULT NULL::text) RETURNS SETOF collab.jobs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return query
  select * from collab.claim_jobs_v1(
    executor_id => claim_one_job_v3.executor_id, worker_id => claim_one_job_v3.worker_id,
    lease_seconds => claim_one_job_v3.lease_seconds, max_jobs => 1,
    type_prefixes => case when claim_one_job_v3.type_prefix is null then null
                          else array[claim_one_job_v3.type_prefix] end);
end
$$;

CREATE FUNCTION collab.complete_and_claim_v1(job_id uuid, worker_id text, executor_id text, result jsonb DEFAULT NULL::jsonb, artifacts jsonb DEFAULT '[]'::jsonb, attempt integer DEFAULT NULL::integer, lease_seconds integer DEFAULT 60, type_prefix text DEFAULT NULL::text) RETURNS SETOF collab.jobs
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION collab.complete_job_v1(job_id uuid, worker_id text, result jsonb DEFAULT NULL::jsonb, artifacts jsonb DEFAULT '[]'::jsonb, attempt integer DEFAULT NULL::integer) RETURNS SETOF collab.jobs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION collab.complete_jobs_v1(worker_id text, completions jsonb) RETURNS SETOF collab.jobs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    SET plan_cache_mode TO 'force_generic_plan'
    AS $_$
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
$_$;

CREATE FUNCTION collab.delete_job_v1(job_id uuid) RETURNS SETOF collab.jobs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION collab.dlq_list_v1(executor_id text DEFAULT NULL::text, page_size integer DEFAULT 20, cursor text DEFAULT NULL::text, include_retried boolean DEFAULT true) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    SET plan_cache_mode TO 'force_custom_plan'
    AS $$
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

CREATE FUNCTION collab.dlq_retry_v1(dead_letter_id uuid) RETURNS TABLE(job_id uuid, queued boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION collab.events_by_job_v1(job_id uuid, after_seq bigint DEFAULT 0, page_size integer DEFAULT 1000) RETURNS SETOF collab.job_events
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION collab.extend_lease_v1(job_id uuid, worker_id text, lease_seconds integer DEFAULT 60, attempt integer DEFAULT NULL::integer) RETURNS SETOF collab.jobs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION collab.fail_job_v1(job_id uuid, worker_id text, error text DEFAULT NULL::text, retryable boolean DEFAULT true, retry_delay_seconds integer DEFAULT NULL::integer, attempt integer DEFAULT NULL::integer) RETURNS SETOF collab.jobs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION collab.get_job_v1(job_id uuid) RETURNS SETOF collab.jobs
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  perform collab._require_visible_job(job_id);
  return query select * from collab.jobs j where j.id = get_job_v1.job_id;
end
$$;

CREATE FUNCTION collab.job_events_after_v1(after_seq bigint DEFAULT 0, job_id uuid DEFAULT NULL::uuid, executor_id text DEFAULT NULL::text, page_size integer DEFAULT 1000, horizon_seq bigint DEFAULT NULL::bigint, horizon_xid text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  h record;
  page jsonb;
  n integer;
  last_seq bigint;
begin
  perform collab._check_range('page_size', page_size, 1, 10000);
  if coalesce(after_seq, 0) < 0 then
    perform collab._raise('CL400', format('after_seq must be >= 0 (got %s)', after_seq));
  end if;
  if job_id is not null then
    perform collab._require_visible_job(job_id);
  end if;
  begin
    h := collab._event_horizon(after_seq, horizon_seq, horizon_xid::xid8);
  exception when invalid_text_representation then
    perform collab._raise('CL400', format('invalid horizon_xid %s', quote_literal(left(horizon_xid, 40))));
  end;
  select coalesce(jsonb_agg(to_jsonb(e) - 'xact_id' order by e.seq), '[]'::jsonb), count(*), max(e.seq)
    into page, n, last_seq
    from (select * from collab.job_events x
           where x.seq > coalesce(job_events_after_v1.after_seq, 0) and x.seq <= h.safe_seq
             and (job_events_after_v1.job_id is null or x.job_id = job_events_after_v1.job_id)
             and (job_events_after_v1.executor_id is null
                  or x.executor_id = job_events_after_v1.executor_id)
           order by x.seq
           limit page_size) e;
  return jsonb_build_object(
    'events', page,
    'cursor', case when n = page_size then last_seq else h.safe_seq end,
    'horizon', case when h.next_horizon_seq is null then null
                    else jsonb_build_object('seq', h.next_horizon_seq,
                                            'xid', h.next_horizon_xid::text) end,
    'more', n = page_size);
end
$$;

CREATE FUNCTION collab.job_events_head_v1() RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  last_drawn bigint;
begin
  select case when s.is_called then s.last_value else s.last_value - 1 end
    into last_drawn from collab.job_events_seq_seq s;
  return (collab._event_horizon(greatest(last_drawn - 10000, 0), null, null)).safe_seq;
end
$$;

CREATE FUNCTION collab.job_summary_v1(job_id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION collab.jobs_recent_v1(executor_id text DEFAULT NULL::text, status text DEFAULT NULL::text, type text DEFAULT NULL::text, page_size integer DEFAULT 20, cursor text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    SET plan_cache_mode TO 'force_custom_plan'
    AS $$
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

CREATE FUNCTION collab.metrics_overview_v1(executor_id text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION collab.purge_jobs_v1(older_than_seconds integer DEFAULT 0, executor_id text DEFAULT NULL::text, statuses text[] DEFAULT '{succeeded}'::text[]) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION collab.rate_limit_hit_v1(key text, "limit" integer, window_seconds integer) RETURNS TABLE(allowed boolean, hits integer, remaining integer, retry_after integer)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_now timestamptz := clock_timestamp();
  v_start timestamptz;
  v_hits integer;
begin
  if not collab._caller_is_trusted() then
    perform collab._raise('CL403', 'not allowed: rate limits are counted by trusted callers only');
  end if;
  if key is null or length(key) not between 1 and 200 then
    perform collab._raise('CL400', 'key must be 1-200 characters');
  end if;
  perform collab._check_range('limit', "limit", 1, 1000000000);
  perform collab._check_range('window_seconds', window_seconds, 1, 86400);

  v_start := to_timestamp(floor(extract(epoch from v_now) / window_seconds) * window_seconds);
  insert into collab.rate_limits as r (bucket_key, window_start, hits)
  values (rate_limit_hit_v1.key, v_start, 1)
  on conflict (bucket_key) do update
    set hits = case when r.window_start = excluded.window_start then r.hits + 1 else 1 end,
        window_start = excluded.window_start
  returning r.hits into v_hits;

  allowed := v_hits <= "limit";
  hits := v_hits;
  remaining := greatest("limit" - v_hits, 0);
  retry_after := case when allowed then 0
                      else greatest(1, ceil(extract(epoch from
                             v_start + make_interval(secs => window_seconds) - v_now))::integer)
                 end;
  return next;
end
$$;

CREATE FUNCTION collab.rate_limit_prune_v1() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_deleted integer;
begin
  if not collab._caller_is_trusted() then
    perform collab._raise('CL403', 'not allowed: rate limits are pruned by trusted callers only');
  end if;
  delete from collab.rate_limits where window_start < now() - interval '1 day';
  get diagnostics v_deleted = row_count;
  return v_deleted;
end
$$;

CREATE FUNCTION collab.remove_executor_member_v1(executor_id text, user_id uuid) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform collab._require_member(executor_id, '{admin}');
  delete from collab.executor_members m
   where m.executor_id = remove_executor_member_v1.executor_id
     and m.user_id = remove_executor_member_v1.user_id;
  return found;
end
$$;

CREATE FUNCTION collab.retry_job_v1(job_id uuid) RETURNS SETOF collab.jobs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION collab.schema_version() RETURNS integer
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$ select 3 $$;

CREATE FUNCTION collab.stats_v1(executor_id text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
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

CREATE TABLE collab.worker_heartbeats_v2 (
    worker_id text NOT NULL,
    executor_id text NOT NULL,
    status text DEFAULT 'idle'::text NOT NULL,
    version text,
    capacity integer DEFAULT 1 NOT NULL,
    running integer DEFAULT 0 NOT NULL,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT worker_heartbeats_v2_capacity_check CHECK ((capacity >= 0)),
    CONSTRAINT worker_heartbeats_v2_running_check CHECK ((running >= 0)),
    CONSTRAINT worker_heartbeats_v2_worker_id_check CHECK (((char_length(worker_id) >= 1) AND (char_length(worker_id) <= 200)))
);

CREATE FUNCTION collab.worker_heartbeat_v1(worker_id text, executor_id text, status text DEFAULT 'idle'::text, version text DEFAULT NULL::text, capacity integer DEFAULT 1, running integer DEFAULT 0, metadata jsonb DEFAULT '{}'::jsonb) RETURNS SETOF collab.worker_heartbeats_v2
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $_$
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
$_$;

CREATE FUNCTION collab.workers_active_v1(within_seconds integer DEFAULT 20, executor_id text DEFAULT NULL::text) RETURNS SETOF collab.worker_heartbeats_v2
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
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

CREATE TABLE collab.job_dead_letters (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    job_id uuid,
    type text NOT NULL,
    executor_id text NOT NULL,
    payload jsonb NOT NULL,
    priority integer DEFAULT 0 NOT NULL,
    max_attempts integer NOT NULL,
    last_error text,
    attempts integer NOT NULL,
    reason text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    retried_at timestamp with time zone,
    retried_job_id uuid,
    CONSTRAINT job_dead_letters_reason_check CHECK ((reason = ANY (ARRAY['max_attempts'::text, 'non_retryable'::text, 'lease_expired'::text])))
);

ALTER TABLE collab.job_events ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME collab.job_events_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE collab.rate_limits (
    bucket_key text NOT NULL,
    window_start timestamp with time zone NOT NULL,
    hits integer NOT NULL
);

ALTER TABLE ONLY collab.artifacts
    ADD CONSTRAINT artifacts_bucket_path_key UNIQUE (bucket, path);

ALTER TABLE ONLY collab.artifacts
    ADD CONSTRAINT artifacts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY collab.executor_members
    ADD CONSTRAINT executor_members_pkey PRIMARY KEY (executor_id, user_id);

ALTER TABLE ONLY collab.job_dead_letters
    ADD CONSTRAINT job_dead_letters_pkey PRIMARY KEY (id);

ALTER TABLE ONLY collab.job_events
    ADD CONSTRAINT job_events_pkey PRIMARY KEY (seq);

ALTER TABLE ONLY collab.jobs
    ADD CONSTRAINT jobs_pkey PRIMARY KEY (id);

ALTER TABLE ONLY collab.rate_limits
    ADD CONSTRAINT rate_limits_pkey PRIMARY KEY (bucket_key);

ALTER TABLE ONLY collab.worker_heartbeats_v2
    ADD CONSTRAINT worker_heartbeats_v2_pkey PRIMARY KEY (worker_id);

CREATE INDEX artifacts_job_idx ON collab.artifacts USING btree (job_id, created_at);

CREATE INDEX executor_members_user_idx ON collab.executor_members USING btree (user_id, executor_id);

CREATE INDEX job_dead_letters_created_idx ON collab.job_dead_letters USING btree (created_at DESC, id DESC);

CREATE INDEX job_dead_letters_executor_idx ON collab.job_dead_letters USING btree (executor_id, created_at DESC, id DESC);

CREATE INDEX job_dead_letters_job_idx ON collab.job_dead_letters USING btree (job_id);

CREATE INDEX job_events_job_idx ON collab.job_events USING btree (job_id, seq);

CREATE INDEX jobs_claim_idx ON collab.jobs USING btree (executor_id, priority DESC, next_run_at, id) WHERE (status = ANY (ARRAY['queued'::text, 'running'::text]));

CREATE INDEX jobs_created_idx ON collab.jobs USING btree (created_at DESC, id DESC);

CREATE INDEX jobs_executor_created_idx ON collab.jobs USING btree (executor_id, created_at DESC, id DESC);

CREATE INDEX jobs_exhausted_idx ON collab.jobs USING btree (executor_id, lease_until) WHERE ((lease_until IS NOT NULL) AND (attempts >= max_attempts));

CREATE INDEX jobs_finished_idx ON collab.jobs USING btree (finished_at) WHERE (finished_at IS NOT NULL);

CREATE UNIQUE INDEX jobs_idempotency_idx ON collab.jobs USING btree (executor_id, idempotency_key) WHERE (idempotency_key IS NOT NULL);

CREATE INDEX worker_heartbeats_executor_idx ON collab.worker_heartbeats_v2 USING btree (executor_id, last_seen_at DESC);

CREATE INDEX worker_heartbeats_seen_idx ON collab.worker_heartbeats_v2 USING btree (last_seen_at DESC);

CREATE TRIGGER job_events_notify AFTER INSERT ON collab.job_events REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT WHEN (collab._event_listeners_present()) EXECUTE FUNCTION collab._job_events_notify();

CREATE TRIGGER job_events_take_xid BEFORE INSERT ON collab.job_events FOR EACH STATEMENT WHEN ((pg_current_xact_id_if_assigned() IS NULL)) EXECUTE FUNCTION collab._job_events_take_xid();

CREATE TRIGGER jobs_after_insert AFTER INSERT ON collab.jobs REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION collab._jobs_after_insert();

CREATE TRIGGER jobs_after_update AFTER UPDATE ON collab.jobs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION collab._jobs_after_update();

ALTER TABLE ONLY collab.artifacts
    ADD CONSTRAINT artifacts_job_id_fkey FOREIGN KEY (job_id) REFERENCES collab.jobs(id) ON DELETE CASCADE;

ALTER TABLE ONLY collab.job_dead_letters
    ADD CONSTRAINT job_dead_letters_job_id_fkey FOREIGN KEY (job_id) REFERENCES collab.jobs(id) ON DELETE SET NULL;

ALTER TABLE ONLY collab.job_dead_letters
    ADD CONSTRAINT job_dead_letters_retried_job_id_fkey FOREIGN KEY (retried_job_id) REFERENCES collab.jobs(id) ON DELETE SET NULL;

ALTER TABLE collab.artifacts ENABLE ROW LEVEL SECURITY;

CREATE POLICY artifacts_read_member ON collab.artifacts FOR SELECT TO authenticated USING ((executor_id IN ( SELECT m.executor_id
   FROM collab.executor_members m
  WHERE (m.user_id = ( SELECT auth.uid() AS uid)))));

CREATE POLICY dead_letters_read_member ON collab.job_dead_letters FOR SELECT TO authenticated USING ((executor_id IN ( SELECT m.executor_id
   FROM collab.executor_members m
  WHERE (m.user_id = ( SELECT auth.uid() AS uid)))));

ALTER TABLE collab.executor_members ENABLE ROW LEVEL SECURITY;

CREATE POLICY heartbeats_read_member ON collab.worker_heartbeats_v2 FOR SELECT TO authenticated USING ((executor_id IN ( SELECT m.executor_id
   FROM collab.executor_members m
  WHERE (m.user_id = ( SELECT auth.uid() AS uid)))));

ALTER TABLE collab.job_dead_letters ENABLE ROW LEVEL SECURITY;

ALTER TABLE collab.job_events ENABLE ROW LEVEL SECURITY;

CREATE POLICY job_events_read_member ON collab.job_events FOR SELECT TO authenticated USING ((executor_id IN ( SELECT m.executor_id
   FROM collab.executor_members m
  WHERE (m.user_id = ( SELECT auth.uid() AS uid)))));

ALTER TABLE collab.jobs ENABLE ROW LEVEL SECURITY;

CREATE POLICY jobs_read_member ON collab.jobs FOR SELECT TO authenticated USING ((executor_id IN ( SELECT m.executor_id
   FROM collab.executor_members m
  WHERE (m.user_id = ( SELECT auth.uid() AS uid)))));

CREATE POLICY members_read_own ON collab.executor_members FOR SELECT TO authenticated USING ((user_id = ( SELECT auth.uid() AS uid)));

ALTER TABLE collab.rate_limits ENABLE ROW LEVEL SECURITY;

CREATE POLICY rate_limits_service ON collab.rate_limits TO service_role USING (true) WITH CHECK (true);

ALTER TABLE collab.worker_heartbeats_v2 ENABLE ROW LEVEL SECURITY;

GRANT USAGE ON SCHEMA collab TO anon;
GRANT USAGE ON SCHEMA collab TO authenticated;
GRANT USAGE ON SCHEMA collab TO service_role;

REVOKE ALL ON FUNCTION collab._caller_can_see(executor_id text) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._caller_is_trusted() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._check_name(what text, value text) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._check_range(what text, value integer, lo integer, hi integer) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._check_range(what text, value integer, lo integer, hi integer) TO authenticated;
GRANT ALL ON FUNCTION collab._check_range(what text, value integer, lo integer, hi integer) TO service_role;

REVOKE ALL ON FUNCTION collab._check_size(what text, value jsonb, max_bytes integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._cursor_decode(cursor text, OUT ts timestamp with time zone, OUT id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._cursor_decode(cursor text, OUT ts timestamp with time zone, OUT id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab._cursor_decode(cursor text, OUT ts timestamp with time zone, OUT id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab._cursor_encode(ts timestamp with time zone, id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._cursor_encode(ts timestamp with time zone, id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab._cursor_encode(ts timestamp with time zone, id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab._event_horizon(after_seq bigint, horizon_seq bigint, horizon_xid xid8, OUT safe_seq bigint, OUT next_horizon_seq bigint, OUT next_horizon_xid xid8) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._event_horizon(after_seq bigint, horizon_seq bigint, horizon_xid xid8, OUT safe_seq bigint, OUT next_horizon_seq bigint, OUT next_horizon_xid xid8) TO authenticated;
GRANT ALL ON FUNCTION collab._event_horizon(after_seq bigint, horizon_seq bigint, horizon_xid xid8, OUT safe_seq bigint, OUT next_horizon_seq bigint, OUT next_horizon_xid xid8) TO service_role;

REVOKE ALL ON FUNCTION collab._event_listeners_present() FROM PUBLIC;
GRANT ALL ON FUNCTION collab._event_listeners_present() TO service_role;

GRANT SELECT ON TABLE collab.jobs TO authenticated;
GRANT ALL ON TABLE collab.jobs TO service_role;

REVOKE ALL ON FUNCTION collab._insert_artifacts(j collab.jobs, artifacts jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._job_events_notify() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._job_events_take_xid() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._jobs_after_insert() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._jobs_after_update() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._lock_job(job_id uuid, roles text[], allowed_statuses text[], verb text) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._notify_claimable(executor_ids text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._notify_claimable(executor_ids text[]) TO service_role;

REVOKE ALL ON FUNCTION collab._page(rows jsonb, n integer, page_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._page(rows jsonb, n integer, page_size integer) TO authenticated;
GRANT ALL ON FUNCTION collab._page(rows jsonb, n integer, page_size integer) TO service_role;

REVOKE ALL ON FUNCTION collab._raise(code text, message text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._raise(code text, message text) TO authenticated;
GRANT ALL ON FUNCTION collab._raise(code text, message text) TO service_role;

REVOKE ALL ON FUNCTION collab._require_lease(j collab.jobs, worker_id text, attempt integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._require_member(executor_id text, roles text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._require_visible_job(job_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._require_visible_job(job_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab._require_visible_job(job_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab._retry_backoff_seconds(attempt integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._xid_upper_bound() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._xids_settled(xid xid8) FROM PUBLIC;

GRANT SELECT ON TABLE collab.artifacts TO authenticated;
GRANT ALL ON TABLE collab.artifacts TO service_role;

REVOKE ALL ON FUNCTION collab.add_artifacts_v1(job_id uuid, artifacts jsonb, worker_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.add_artifacts_v1(job_id uuid, artifacts jsonb, worker_id text) TO authenticated;
GRANT ALL ON FUNCTION collab.add_artifacts_v1(job_id uuid, artifacts jsonb, worker_id text) TO service_role;

GRANT SELECT ON TABLE collab.executor_members TO authenticated;
GRANT ALL ON TABLE collab.executor_members TO service_role;

REVOKE ALL ON FUNCTION collab.add_executor_member_v1(executor_id text, user_id uuid, role text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.add_executor_member_v1(executor_id text, user_id uuid, role text) TO authenticated;
GRANT ALL ON FUNCTION collab.add_executor_member_v1(executor_id text, user_id uuid, role text) TO service_role;

GRANT SELECT ON TABLE collab.job_events TO authenticated;
GRANT ALL ON TABLE collab.job_events TO service_role;

REVOKE ALL ON FUNCTION collab.append_job_event_v1(job_id uuid, worker_id text, payload jsonb, event_type text, attempt integer) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.append_job_event_v1(job_id uuid, worker_id text, payload jsonb, event_type text, attempt integer) TO authenticated;
GRANT ALL ON FUNCTION collab.append_job_event_v1(job_id uuid, worker_id text, payload jsonb, event_type text, attempt integer) TO service_role;

REVOKE ALL ON FUNCTION collab.artifacts_by_job_v1(job_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.artifacts_by_job_v1(job_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.artifacts_by_job_v1(job_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.assign_job_v1(type text, executor_id text, payload jsonb, idempotency_key text, priority integer, max_attempts integer, run_at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.assign_job_v1(type text, executor_id text, payload jsonb, idempotency_key text, priority integer, max_attempts integer, run_at timestamp with time zone) TO authenticated;
GRANT ALL ON FUNCTION collab.assign_job_v1(type text, executor_id text, payload jsonb, idempotency_key text, priority integer, max_attempts integer, run_at timestamp with time zone) TO service_role;

REVOKE ALL ON FUNCTION collab.assign_jobs_v1(jobs jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.assign_jobs_v1(jobs jsonb) TO authenticated;
GRANT ALL ON FUNCTION collab.assign_jobs_v1(jobs jsonb) TO service_role;

REVOKE ALL ON FUNCTION collab.cancel_job_v1(job_id uuid, reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.cancel_job_v1(job_id uuid, reason text) TO authenticated;
GRANT ALL ON FUNCTION collab.cancel_job_v1(job_id uuid, reason text) TO service_role;

REVOKE ALL ON FUNCTION collab.claim_jobs_v1(executor_id text, worker_id text, lease_seconds integer, max_jobs integer, type_prefixes text[], types text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.claim_jobs_v1(executor_id text, worker_id text, lease_seconds integer, max_jobs integer, type_prefixes text[], types text[]) TO authenticated;
GRANT ALL ON FUNCTION collab.claim_jobs_v1(executor_id text, worker_id text, lease_seconds integer, max_jobs integer, type_prefixes text[], types text[]) TO service_role;

REVOKE ALL ON FUNCTION collab.claim_one_job_v3(executor_id text, worker_id text, lease_seconds integer, type_prefix text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.claim_one_job_v3(executor_id text, worker_id text, lease_seconds integer, type_prefix text) TO authenticated;
GRANT ALL ON FUNCTION collab.claim_one_job_v3(executor_id text, worker_id text, lease_seconds integer, type_prefix text) TO service_role;

REVOKE ALL ON FUNCTION collab.complete_and_claim_v1(job_id uuid, worker_id text, executor_id text, result jsonb, artifacts jsonb, attempt integer, lease_seconds integer, type_prefix text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.complete_and_claim_v1(job_id uuid, worker_id text, executor_id text, result jsonb, artifacts jsonb, attempt integer, lease_seconds integer, type_prefix text) TO authenticated;
GRANT ALL ON FUNCTION collab.complete_and_claim_v1(job_id uuid, worker_id text, executor_id text, result jsonb, artifacts jsonb, attempt integer, lease_seconds integer, type_prefix text) TO service_role;

REVOKE ALL ON FUNCTION collab.complete_job_v1(job_id uuid, worker_id text, result jsonb, artifacts jsonb, attempt integer) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.complete_job_v1(job_id uuid, worker_id text, result jsonb, artifacts jsonb, attempt integer) TO authenticated;
GRANT ALL ON FUNCTION collab.complete_job_v1(job_id uuid, worker_id text, result jsonb, artifacts jsonb, attempt integer) TO service_role;

REVOKE ALL ON FUNCTION collab.complete_jobs_v1(worker_id text, completions jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.complete_jobs_v1(worker_id text, completions jsonb) TO authenticated;
GRANT ALL ON FUNCTION collab.complete_jobs_v1(worker_id text, completions jsonb) TO service_role;

REVOKE ALL ON FUNCTION collab.delete_job_v1(job_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.delete_job_v1(job_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.delete_job_v1(job_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.dlq_list_v1(executor_id text, page_size integer, cursor text, include_retried boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.dlq_list_v1(executor_id text, page_size integer, cursor text, include_retried boolean) TO authenticated;
GRANT ALL ON FUNCTION collab.dlq_list_v1(executor_id text, page_size integer, cursor text, include_retried boolean) TO service_role;

REVOKE ALL ON FUNCTION collab.dlq_retry_v1(dead_letter_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.dlq_retry_v1(dead_letter_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.dlq_retry_v1(dead_letter_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.events_by_job_v1(job_id uuid, after_seq bigint, page_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.events_by_job_v1(job_id uuid, after_seq bigint, page_size integer) TO authenticated;
GRANT ALL ON FUNCTION collab.events_by_job_v1(job_id uuid, after_seq bigint, page_size integer) TO service_role;

REVOKE ALL ON FUNCTION collab.extend_lease_v1(job_id uuid, worker_id text, lease_seconds integer, attempt integer) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.extend_lease_v1(job_id uuid, worker_id text, lease_seconds integer, attempt integer) TO authenticated;
GRANT ALL ON FUNCTION collab.extend_lease_v1(job_id uuid, worker_id text, lease_seconds integer, attempt integer) TO service_role;

REVOKE ALL ON FUNCTION collab.fail_job_v1(job_id uuid, worker_id text, error text, retryable boolean, retry_delay_seconds integer, attempt integer) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.fail_job_v1(job_id uuid, worker_id text, error text, retryable boolean, retry_delay_seconds integer, attempt integer) TO authenticated;
GRANT ALL ON FUNCTION collab.fail_job_v1(job_id uuid, worker_id text, error text, retryable boolean, retry_delay_seconds integer, attempt integer) TO service_role;

REVOKE ALL ON FUNCTION collab.get_job_v1(job_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.get_job_v1(job_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.get_job_v1(job_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.job_events_after_v1(after_seq bigint, job_id uuid, executor_id text, page_size integer, horizon_seq bigint, horizon_xid text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.job_events_after_v1(after_seq bigint, job_id uuid, executor_id text, page_size integer, horizon_seq bigint, horizon_xid text) TO authenticated;
GRANT ALL ON FUNCTION collab.job_events_after_v1(after_seq bigint, job_id uuid, executor_id text, page_size integer, horizon_seq bigint, horizon_xid text) TO service_role;

REVOKE ALL ON FUNCTION collab.job_events_head_v1() FROM PUBLIC;
GRANT ALL ON FUNCTION collab.job_events_head_v1() TO authenticated;
GRANT ALL ON FUNCTION collab.job_events_head_v1() TO service_role;

REVOKE ALL ON FUNCTION collab.job_summary_v1(job_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.job_summary_v1(job_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.job_summary_v1(job_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.jobs_recent_v1(executor_id text, status text, type text, page_size integer, cursor text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.jobs_recent_v1(executor_id text, status text, type text, page_size integer, cursor text) TO authenticated;
GRANT ALL ON FUNCTION collab.jobs_recent_v1(executor_id text, status text, type text, page_size integer, cursor text) TO service_role;

REVOKE ALL ON FUNCTION collab.metrics_overview_v1(executor_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.metrics_overview_v1(executor_id text) TO authenticated;
GRANT ALL ON FUNCTION collab.metrics_overview_v1(executor_id text) TO service_role;

REVOKE ALL ON FUNCTION collab.purge_jobs_v1(older_than_seconds integer, executor_id text, statuses text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.purge_jobs_v1(older_than_seconds integer, executor_id text, statuses text[]) TO authenticated;
GRANT ALL ON FUNCTION collab.purge_jobs_v1(older_than_seconds integer, executor_id text, statuses text[]) TO service_role;

REVOKE ALL ON FUNCTION collab.rate_limit_hit_v1(key text, "limit" integer, window_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.rate_limit_hit_v1(key text, "limit" integer, window_seconds integer) TO authenticated;
GRANT ALL ON FUNCTION collab.rate_limit_hit_v1(key text, "limit" integer, window_seconds integer) TO service_role;

REVOKE ALL ON FUNCTION collab.rate_limit_prune_v1() FROM PUBLIC;
GRANT ALL ON FUNCTION collab.rate_limit_prune_v1() TO authenticated;
GRANT ALL ON FUNCTION collab.rate_limit_prune_v1() TO service_role;

REVOKE ALL ON FUNCTION collab.remove_executor_member_v1(executor_id text, user_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.remove_executor_member_v1(executor_id text, user_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.remove_executor_member_v1(executor_id text, user_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.retry_job_v1(job_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.retry_job_v1(job_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.retry_job_v1(job_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.schema_version() FROM PUBLIC;
GRANT ALL ON FUNCTION collab.schema_version() TO authenticated;
GRANT ALL ON FUNCTION collab.schema_version() TO service_role;

REVOKE ALL ON FUNCTION collab.stats_v1(executor_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.stats_v1(executor_id text) TO authenticated;
GRANT ALL ON FUNCTION collab.stats_v1(executor_id text) TO service_role;

GRANT SELECT ON TABLE collab.worker_heartbeats_v2 TO authenticated;
GRANT ALL ON TABLE collab.worker_heartbeats_v2 TO service_role;

REVOKE ALL ON FUNCTION collab.worker_heartbeat_v1(worker_id text, executor_id text, status text, version text, capacity integer, running integer, metadata jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.worker_heartbeat_v1(worker_id text, executor_id text, status text, version text, capacity integer, running integer, metadata jsonb) TO authenticated;
GRANT ALL ON FUNCTION collab.worker_heartbeat_v1(worker_id text, executor_id text, status text, version text, capacity integer, running integer, metadata jsonb) TO service_role;

REVOKE ALL ON FUNCTION collab.workers_active_v1(within_seconds integer, executor_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.workers_active_v1(within_seconds integer, executor_id text) TO authenticated;
GRANT ALL ON FUNCTION collab.workers_active_v1(within_seconds integer, executor_id text) TO service_role;

GRANT SELECT ON TABLE collab.job_dead_letters TO authenticated;
GRANT ALL ON TABLE collab.job_dead_letters TO service_role;

GRANT ALL ON TABLE collab.rate_limits TO service_role;
