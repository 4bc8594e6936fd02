-- collab: internal helpers out of the Data API.
--
-- PostgREST serves every function of an exposed schema that the calling role may execute,
-- and `authenticated` held EXECUTE on seven helpers of `collab` (`_event_horizon` among them,
-- SECURITY DEFINER) because the SECURITY INVOKER reads call them as the caller. Revoking
-- EXECUTE alone would break those reads, so the helpers they need get copies in
-- `collab_private`, a schema that is not exposed (not in PostgREST's db-schemas, so no URL
-- reaches it), and the queue's invoker reads call the copies. SECURITY DEFINER RPCs keep
-- calling the `collab` originals: they run as the owner, who needs no grant.
--
-- Then every `collab._*` function loses EXECUTE for `anon` and `authenticated`, except
-- one that a SECURITY INVOKER function they can still execute calls by name (computed to a
-- fixed point, so a caller is never broken: a later migration that adds such a caller
-- keeps its helper's grant until it moves to collab_private). The lint in
-- tests/migrations/test_function_exposure.py fails for any such leftover.

create schema if not exists collab_private;
comment on schema collab_private is
  'collab internals called by SECURITY INVOKER RPCs as the caller; never exposed through the Data API';
revoke all on schema collab_private from public;
grant usage on schema collab_private to authenticated, service_role;
alter default privileges in schema collab_private revoke execute on functions from public;

CREATE FUNCTION collab_private._raise(code text, message text)
 RETURNS void
  LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO ''
AS $function$
begin
  raise exception using errcode = code, message = message;
end
$function$;

CREATE FUNCTION collab_private._check_range(what text, value integer, lo integer, hi integer)
 RETURNS void
  LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO ''
AS $function$
begin
  if value is null or value < lo or value > hi then
    perform collab_private._raise('CL400', format('%s must be between %s and %s (got %s)',
                                          what, lo, hi, coalesce(value::text, 'null')));
  end if;
end
$function$;

CREATE FUNCTION collab_private._cursor_encode(ts timestamp with time zone, id uuid)
 RETURNS text
  LANGUAGE sql
 IMMUTABLE
 SET search_path TO ''
AS $function$
  select to_char(ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '~' || id::text
$function$;

CREATE FUNCTION collab_private._cursor_decode(cursor text, OUT ts timestamp with time zone, OUT id uuid)
 RETURNS record
  LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO ''
AS $function$
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
  perform collab_private._raise('CL400', format(
    'invalid cursor %s: pass the nextCursor of the previous page, or an ISO timestamp',
    quote_literal(left(cursor, 80))));
end
$function$;

CREATE FUNCTION collab_private._require_visible_job(job_id uuid)
 RETURNS void
  LANGUAGE plpgsql
 STABLE
 SET search_path TO ''
AS $function$
begin
  if not exists (select 1 from collab.jobs j where j.id = _require_visible_job.job_id) then
    perform collab_private._raise('CL404', format('job %s not found', job_id));
  end if;
end
$function$;

CREATE FUNCTION collab_private._page(rows jsonb, n integer, page_size integer)
 RETURNS jsonb
  LANGUAGE sql
 IMMUTABLE
 SET search_path TO ''
AS $function$
  select case when n > page_size then
    jsonb_build_object(
      'items', rows - page_size, 'count', page_size,
      'nextCursor', collab_private._cursor_encode((rows -> (page_size - 1) ->> 'created_at')::timestamptz,
                                          (rows -> (page_size - 1) ->> 'id')::uuid))
  else
    jsonb_build_object('items', rows, 'count', n, 'nextCursor', null)
  end
$function$;

CREATE FUNCTION collab_private._event_horizon(after_seq bigint, horizon_seq bigint, horizon_xid xid8, OUT safe_seq bigint, OUT next_horizon_seq bigint, OUT next_horizon_xid xid8)
 RETURNS record
  LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
declare
  last_drawn bigint;
  bound xid8;
begin
  if current_setting('transaction_isolation') <> 'read committed' then
    perform collab_private._raise('CL400', 'the event stream needs read committed isolation (each '
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
$function$;

revoke all on all functions in schema collab_private from public;
grant execute on all functions in schema collab_private to authenticated, service_role;

-- The queue's SECURITY INVOKER reads, unchanged but for calling the collab_private copies.

CREATE OR REPLACE FUNCTION collab.artifacts_by_job_v1(job_id uuid)
 RETURNS SETOF collab.artifacts
 LANGUAGE plpgsql
 STABLE
 SET search_path TO ''
AS $function$
begin
  perform collab_private._require_visible_job(job_id);
  return query
    select * from collab.artifacts a
     where a.job_id = artifacts_by_job_v1.job_id
     order by a.created_at, a.id;
end
$function$;

CREATE OR REPLACE FUNCTION collab.dlq_list_v1(executor_id text DEFAULT NULL::text, page_size integer DEFAULT 20, cursor text DEFAULT NULL::text, include_retried boolean DEFAULT true)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
 SET search_path TO ''
 SET plan_cache_mode TO 'force_custom_plan'
AS $function$
declare
  c record;
  rows jsonb;
  n integer;
begin
  perform collab_private._check_range('page_size', page_size, 1, 1000);
  c := collab_private._cursor_decode(cursor);
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
  return collab_private._page(rows, n, page_size);
end
$function$;

CREATE OR REPLACE FUNCTION collab.events_by_job_v1(job_id uuid, after_seq bigint DEFAULT 0, page_size integer DEFAULT 1000)
 RETURNS SETOF collab.job_events
 LANGUAGE plpgsql
 STABLE
 SET search_path TO ''
AS $function$
begin
  perform collab_private._check_range('page_size', page_size, 1, 10000);
  perform collab_private._require_visible_job(job_id);
  return query
    select * from collab.job_events e
     where e.job_id = events_by_job_v1.job_id and e.seq > coalesce(after_seq, 0)
     order by e.seq
     limit page_size;
end
$function$;

CREATE OR REPLACE FUNCTION collab.get_job_v1(job_id uuid)
 RETURNS SETOF collab.jobs
 LANGUAGE plpgsql
 STABLE
 SET search_path TO ''
AS $function$
begin
  perform collab_private._require_visible_job(job_id);
  return query select * from collab.jobs j where j.id = get_job_v1.job_id;
end
$function$;

CREATE OR REPLACE FUNCTION collab.job_events_after_v1(after_seq bigint DEFAULT 0, job_id uuid DEFAULT NULL::uuid, executor_id text DEFAULT NULL::text, page_size integer DEFAULT 1000, horizon_seq bigint DEFAULT NULL::bigint, horizon_xid text DEFAULT NULL::text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
declare
  h record;
  page jsonb;
  n integer;
  last_seq bigint;
begin
  perform collab_private._check_range('page_size', page_size, 1, 10000);
  if coalesce(after_seq, 0) < 0 then
    perform collab_private._raise('CL400', format('after_seq must be >= 0 (got %s)', after_seq));
  end if;
  if job_id is not null then
    perform collab_private._require_visible_job(job_id);
  end if;
  begin
    h := collab_private._event_horizon(after_seq, horizon_seq, horizon_xid::xid8);
  exception when invalid_text_representation then
    perform collab_private._raise('CL400', format('invalid horizon_xid %s', quote_literal(left(horizon_xid, 40))));
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
$function$;

CREATE OR REPLACE FUNCTION collab.job_summary_v1(job_id uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
 SET search_path TO ''
AS $function$
begin
  perform collab_private._require_visible_job(job_id);
  return jsonb_build_object(
    'job', (select to_jsonb(j) from collab.jobs j where j.id = job_summary_v1.job_id),
    'artifacts', coalesce((select jsonb_agg(to_jsonb(a) order by a.created_at, a.id)
                             from collab.artifacts a where a.job_id = job_summary_v1.job_id),
                          '[]'::jsonb),
    'events', coalesce((select jsonb_agg(to_jsonb(e) order by e.seq)
                          from collab.job_events e where e.job_id = job_summary_v1.job_id),
                       '[]'::jsonb));
end
$function$;

CREATE OR REPLACE FUNCTION collab.jobs_recent_v1(executor_id text DEFAULT NULL::text, status text DEFAULT NULL::text, type text DEFAULT NULL::text, page_size integer DEFAULT 20, cursor text DEFAULT NULL::text)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
 SET search_path TO ''
 SET plan_cache_mode TO 'force_custom_plan'
AS $function$
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
    from (select * from collab.jobs j
           where (jobs_recent_v1.executor_id is null or j.executor_id = jobs_recent_v1.executor_id)
             and (jobs_recent_v1.status is null or j.status = jobs_recent_v1.status)
             and (jobs_recent_v1.type is null or j.type = jobs_recent_v1.type)
             and (c.ts is null
                  or (c.id is null and j.created_at < c.ts)
                  or (c.id is not null and (j.created_at, j.id) < (c.ts, c.id)))
           order by j.created_at desc, j.id desc
           limit page_size + 1) p;
  return collab_private._page(rows, n, page_size);
end
$function$;

CREATE OR REPLACE FUNCTION collab.workers_active_v1(within_seconds integer DEFAULT 20, executor_id text DEFAULT NULL::text)
 RETURNS SETOF collab.worker_heartbeats_v2
 LANGUAGE plpgsql
 STABLE
 SET search_path TO ''
AS $function$
begin
  perform collab_private._check_range('within_seconds', within_seconds, 1, 86400);
  return query
    select * from collab.worker_heartbeats_v2 w
     where w.last_seen_at > now() - make_interval(secs => within_seconds)
       and w.status <> 'stopped'
       and (workers_active_v1.executor_id is null or w.executor_id = workers_active_v1.executor_id)
     order by w.last_seen_at desc, w.worker_id;
end
$function$;

-- No API role executes an internal helper of the exposed schema, unless an invoker
-- function it may call still needs it (see the header).
do $$
declare
  changed boolean := true;
  helper record;
begin
  while changed loop
    changed := false;
    for helper in
      select p.oid, p.proname from pg_proc p
       where p.pronamespace = 'collab'::regnamespace and p.proname like '\_%'
         and (has_function_privilege('authenticated', p.oid, 'EXECUTE')
              or has_function_privilege('anon', p.oid, 'EXECUTE'))
    loop
      if not exists (
        select 1 from pg_proc c
         where c.pronamespace = 'collab'::regnamespace and c.oid <> helper.oid and not c.prosecdef
           and has_function_privilege('authenticated', c.oid, 'EXECUTE')
           and strpos(c.prosrc, 'collab.' || helper.proname || '(') > 0) then
        execute format('revoke execute on function %s from anon, authenticated', helper.oid::regprocedure);
        changed := true;
      end if;
    end loop;
  end loop;
end
$$;
