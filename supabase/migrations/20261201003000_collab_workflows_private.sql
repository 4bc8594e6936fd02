-- collab: the workflow engine's internal helpers out of the Data API, as the queue's are
-- (20261201002000_collab_private_helpers.sql).
--
-- The workflow reads are SECURITY INVOKER, so `authenticated` needed EXECUTE on the
-- helpers they call (`_require_visible_run`, `_require_visible_workflow`, `_cron_next`,
-- `_cron_field`, and the queue helpers `_page`, `_cursor_*`, `_raise`, `_check_range`,
-- `_event_horizon`), which PostgREST then served from the exposed schema. The four
-- workflow helpers get copies in `collab_private`; the reads are re-created, unchanged
-- but for calling the copies; then every `collab._*` helper no invoker read still needs
-- loses EXECUTE for `anon` and `authenticated` (the same fixed point as before).

CREATE FUNCTION collab_private._cron_field(field text, what text, lo integer, hi integer, names text[] DEFAULT NULL::text[])
 RETURNS integer[]
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO ''
AS $function$
declare
  part text;
  span text;
  a integer;
  b integer;
  step integer;
  result integer[] := '{}';
  bounds text[];
begin
  if field is null or field = '' then
    perform collab_private._raise('CL400', format('cron %s field is missing', what));
  end if;
  foreach part in array string_to_array(lower(field), ',') loop
    step := 1;
    span := part;
    if part like '%/%' then
      if split_part(part, '/', 2) !~ '^[0-9]+$' or split_part(part, '/', 3) <> ''
         or split_part(part, '/', 2)::numeric not between 1 and hi then
        perform collab_private._raise('CL400', format('cron %s field: bad step in %s', what, quote_literal(part)));
      end if;
      step := split_part(part, '/', 2)::integer;
      span := split_part(part, '/', 1);
    end if;
    bounds := null;
    if span = '*' then
      a := lo;
      b := hi;
    else
      bounds := string_to_array(span, '-');
      if cardinality(bounds) not between 1 and 2 then
        perform collab_private._raise('CL400', format('cron %s field: bad range %s', what, quote_literal(part)));
      end if;
      for i in 1 .. cardinality(bounds) loop
        if bounds[i] ~ '^[0-9]+$' and char_length(bounds[i]) <= 4 then
          null;
        elsif names is not null and array_position(names, bounds[i]) is not null then
          bounds[i] := (array_position(names, bounds[i]) - 1 + case when lo = 1 then 1 else 0 end)::text;
        else
          perform collab_private._raise('CL400', format('cron %s field: %s is not a number%s', what,
            quote_literal(bounds[i]), case when names is not null then ' or a name' else '' end));
        end if;
      end loop;
      a := bounds[1]::integer;
      b := case when cardinality(bounds) = 2 then bounds[2]::integer
                when part like '%/%' then hi else a end;
    end if;
    if a < lo or b > hi or a > b then
      perform collab_private._raise('CL400', format('cron %s field: %s is outside %s-%s', what, quote_literal(part), lo, hi));
    end if;
    result := result || array(select generate_series(a, b, step));
  end loop;
  return result;
end
$function$;

CREATE FUNCTION collab_private._cron_next(expr text, tz text, after timestamp with time zone)
 RETURNS timestamp with time zone
 LANGUAGE plpgsql
 STABLE
 SET search_path TO ''
AS $function$
declare
  fields text[];
  minutes integer[];
  hours integer[];
  days integer[];
  months integer[];
  weekdays integer[];
  any_day boolean;
  any_weekday boolean;
  t timestamp;
  day_ok boolean;
  result timestamptz;
begin
  if expr is null then
    perform collab_private._raise('CL400', 'cron is required');
  end if;
  fields := regexp_split_to_array(btrim(expr), '\s+');
  if cardinality(fields) <> 5 then
    perform collab_private._raise('CL400', format(
      'cron must have 5 fields (minute hour day-of-month month day-of-week); got %s in %s',
      cardinality(fields), quote_literal(left(expr, 100))));
  end if;
  minutes := collab_private._cron_field(fields[1], 'minute', 0, 59);
  hours := collab_private._cron_field(fields[2], 'hour', 0, 23);
  days := collab_private._cron_field(fields[3], 'day-of-month', 1, 31);
  months := collab_private._cron_field(fields[4], 'month', 1, 12,
    '{jan,feb,mar,apr,may,jun,jul,aug,sep,oct,nov,dec}');
  weekdays := collab_private._cron_field(fields[5], 'day-of-week', 0, 7, '{sun,mon,tue,wed,thu,fri,sat}');
  if 7 = any (weekdays) then
    weekdays := weekdays || 0;
  end if;
  any_day := starts_with(fields[3], '*');
  any_weekday := starts_with(fields[5], '*');
  begin
    t := date_trunc('minute', after at time zone tz) + interval '1 minute';
  exception when invalid_parameter_value then
    perform collab_private._raise('CL400', format('timezone %s is not a known time zone', quote_literal(left(tz, 100))));
  end;
  -- Skip whole months, days and hours that cannot match; at most a few thousand steps
  -- for any expression that fires at all within eight years.
  for i in 1 .. 100000 loop
    if not extract(month from t)::integer = any (months) then
      t := date_trunc('month', t) + interval '1 month';
      continue;
    end if;
    day_ok := case
      when any_day and any_weekday then true
      when any_day then extract(dow from t)::integer = any (weekdays)
      when any_weekday then extract(day from t)::integer = any (days)
      else extract(day from t)::integer = any (days) or extract(dow from t)::integer = any (weekdays)
    end;
    if not day_ok then
      t := date_trunc('day', t) + interval '1 day';
      continue;
    end if;
    if not extract(hour from t)::integer = any (hours) then
      t := date_trunc('hour', t) + interval '1 hour';
      continue;
    end if;
    if not extract(minute from t)::integer = any (minutes) then
      t := t + interval '1 minute';
      continue;
    end if;
    result := t at time zone tz;
    if result > after then
      return result;
    end if;
    t := t + interval '1 minute';
    exit when t > (after at time zone tz) + interval '8 years';
  end loop;
  perform collab_private._raise('CL400', format('cron %s never fires', quote_literal(left(expr, 100))));
  return null;
end
$function$;

CREATE FUNCTION collab_private._require_visible_run(run_id uuid)
 RETURNS void
 LANGUAGE plpgsql
 STABLE
 SET search_path TO ''
AS $function$
begin
  if not exists (select 1 from collab.workflow_runs r where r.id = _require_visible_run.run_id) then
    perform collab_private._raise('CL404', format('run %s not found', run_id));
  end if;
end
$function$;

CREATE FUNCTION collab_private._require_visible_workflow(workflow_id uuid)
 RETURNS void
 LANGUAGE plpgsql
 STABLE
 SET search_path TO ''
AS $function$
begin
  if not exists (select 1 from collab.workflows w where w.id = _require_visible_workflow.workflow_id) then
    perform collab_private._raise('CL404', format('workflow %s not found', workflow_id));
  end if;
end
$function$;

revoke all on all functions in schema collab_private from public;
grant execute on all functions in schema collab_private to authenticated, service_role;

CREATE OR REPLACE FUNCTION collab.cron_next_v1(cron text, timezone text DEFAULT 'UTC'::text, after timestamp with time zone DEFAULT NULL::timestamp with time zone)
 RETURNS timestamp with time zone
 LANGUAGE plpgsql
 STABLE
 SET search_path TO ''
AS $function$
begin
  return collab_private._cron_next(cron, coalesce(timezone, 'UTC'), coalesce(after, now()));
end
$function$;

CREATE OR REPLACE FUNCTION collab.get_run_v1(run_id uuid)
 RETURNS SETOF collab.workflow_runs
 LANGUAGE plpgsql
 STABLE
 SET search_path TO ''
AS $function$
begin
  perform collab_private._require_visible_run(run_id);
  return query select * from collab.workflow_runs r where r.id = get_run_v1.run_id;
end
$function$;

CREATE OR REPLACE FUNCTION collab.get_workflow_v1(workflow_id uuid)
 RETURNS SETOF collab.workflows
 LANGUAGE plpgsql
 STABLE
 SET search_path TO ''
AS $function$
begin
  perform collab_private._require_visible_workflow(workflow_id);
  return query select * from collab.workflows w where w.id = get_workflow_v1.workflow_id;
end
$function$;

CREATE OR REPLACE FUNCTION collab.run_events_after_v1(run_id uuid, after_seq bigint DEFAULT 0, page_size integer DEFAULT 1000, horizon_seq bigint DEFAULT NULL::bigint, horizon_xid text DEFAULT NULL::text)
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
  if run_id is null then
    perform collab_private._raise('CL400', 'run_id is required');
  end if;
  perform collab_private._require_visible_run(run_id);
  begin
    h := collab_private._event_horizon(after_seq, horizon_seq, horizon_xid::xid8);
  exception when invalid_text_representation then
    perform collab_private._raise('CL400', format('invalid horizon_xid %s', quote_literal(left(horizon_xid, 40))));
  end;
  select coalesce(jsonb_agg(to_jsonb(e) - 'xact_id' order by e.seq), '[]'::jsonb), count(*), max(e.seq)
    into page, n, last_seq
    from (select * from collab.job_events x
           where x.run_id = run_events_after_v1.run_id
             and x.seq > coalesce(run_events_after_v1.after_seq, 0) and x.seq <= h.safe_seq
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

CREATE OR REPLACE FUNCTION collab.run_snapshot_v1(run_id uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
declare
  head bigint;
begin
  perform collab_private._require_visible_run(run_id);
  head := collab.job_events_head_v1();  -- first: the reads below see everything up to it
  return jsonb_build_object(
    'run', (select to_jsonb(r) from collab.workflow_runs r where r.id = run_snapshot_v1.run_id),
    'steps', coalesce((select jsonb_agg(to_jsonb(s) order by s.position, s.step_id)
                         from collab.workflow_step_runs s where s.run_id = run_snapshot_v1.run_id), '[]'::jsonb),
    'cursor', head);
end
$function$;

CREATE OR REPLACE FUNCTION collab.run_steps_v1(run_id uuid)
 RETURNS SETOF collab.workflow_step_runs
 LANGUAGE plpgsql
 STABLE
 SET search_path TO ''
AS $function$
begin
  perform collab_private._require_visible_run(run_id);
  return query select * from collab.workflow_step_runs s where s.run_id = run_steps_v1.run_id
                order by s.position, s.step_id;
end
$function$;

CREATE OR REPLACE FUNCTION collab.runs_v1(workflow_id uuid DEFAULT NULL::uuid, executor_id text DEFAULT NULL::text, status text DEFAULT NULL::text, page_size integer DEFAULT 20, cursor text DEFAULT NULL::text)
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
  if status is not null and status not in ('pending', 'running', 'paused', 'succeeded', 'failed', 'cancelled') then
    perform collab_private._raise('CL400', 'status must be pending, running, paused, succeeded, failed or cancelled');
  end if;
  c := collab_private._cursor_decode(cursor);
  select coalesce(jsonb_agg(to_jsonb(p) order by p.created_at desc, p.id desc), '[]'::jsonb), count(*)
    into rows, n
    from (select * from collab.workflow_runs r
           where (runs_v1.workflow_id is null or r.workflow_id = runs_v1.workflow_id)
             and (runs_v1.executor_id is null or r.executor_id = runs_v1.executor_id)
             and (runs_v1.status is null or r.status = runs_v1.status)
             and (c.ts is null
                  or (c.id is null and r.created_at < c.ts)
                  or (c.id is not null and (r.created_at, r.id) < (c.ts, c.id)))
           order by r.created_at desc, r.id desc
           limit page_size + 1) p;
  return collab_private._page(rows, n, page_size);
end
$function$;

CREATE OR REPLACE FUNCTION collab.workflows_v1(executor_id text DEFAULT NULL::text, status text DEFAULT NULL::text, page_size integer DEFAULT 20, cursor text DEFAULT NULL::text)
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
  if status is not null and status not in ('draft', 'published', 'archived') then
    perform collab_private._raise('CL400', 'status must be draft, published or archived');
  end if;
  c := collab_private._cursor_decode(cursor);
  select coalesce(jsonb_agg(to_jsonb(p) order by p.created_at desc, p.id desc), '[]'::jsonb), count(*)
    into rows, n
    from (select * from collab.workflows w
           where (workflows_v1.executor_id is null or w.executor_id = workflows_v1.executor_id)
             and (workflows_v1.status is null or w.status = workflows_v1.status)
             and (c.ts is null
                  or (c.id is null and w.created_at < c.ts)
                  or (c.id is not null and (w.created_at, w.id) < (c.ts, c.id)))
           order by w.created_at desc, w.id desc
           limit page_size + 1) p;
  return collab_private._page(rows, n, page_size);
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
