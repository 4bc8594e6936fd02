CREATE SCHEMA collab;

COMMENT ON SCHEMA collab IS 'collab job queue: tables and RPCs (see docs/rpc.md)';

CREATE DOMAIN collab.job_attempts AS integer
	CONSTRAINT jobs_attempts_check CHECK ((VALUE >= 0));

CREATE DOMAIN collab.job_executor_id AS text
	CONSTRAINT jobs_executor_id_check CHECK (((char_length(VALUE) >= 1) AND (char_length(VALUE) <= 200)));

CREATE DOMAIN collab.job_forgiven_attempts AS integer
	CONSTRAINT jobs_forgiven_attempts_check CHECK (((VALUE >= 0) AND (VALUE <= 1)));

CREATE DOMAIN collab.job_idempotency_key AS text
	CONSTRAINT jobs_idempotency_key_check CHECK (((char_length(VALUE) >= 1) AND (char_length(VALUE) <= 255)));

CREATE DOMAIN collab.job_max_attempts AS integer
	CONSTRAINT jobs_max_attempts_check CHECK (((VALUE >= 1) AND (VALUE <= 1000)));

CREATE DOMAIN collab.job_rescues AS integer
	CONSTRAINT jobs_rescues_check CHECK ((VALUE >= 0));

CREATE DOMAIN collab.job_type AS text
	CONSTRAINT jobs_type_check CHECK (((char_length(VALUE) >= 1) AND (char_length(VALUE) <= 200)));

CREATE DOMAIN collab.workflow_run_idempotency_key AS text
	CONSTRAINT workflow_run_idempotency_key_check CHECK (((char_length(VALUE) >= 1) AND (char_length(VALUE) <= 255)));

CREATE DOMAIN collab.workflow_run_status AS text
	CONSTRAINT workflow_run_status_check CHECK ((VALUE = ANY (ARRAY['pending'::text, 'running'::text, 'paused'::text, 'succeeded'::text, 'failed'::text, 'cancelled'::text])));

CREATE DOMAIN collab.workflow_step_attempts AS integer
	CONSTRAINT workflow_step_attempts_check CHECK ((VALUE >= 0));

CREATE DOMAIN collab.workflow_step_kind AS text
	CONSTRAINT workflow_step_kind_check CHECK ((VALUE = ANY (ARRAY['job'::text, 'approval'::text])));

CREATE DOMAIN collab.workflow_step_max_attempts AS integer
	CONSTRAINT workflow_step_max_attempts_check CHECK (((VALUE >= 1) AND (VALUE <= 1000)));

CREATE DOMAIN collab.workflow_step_status AS text
	CONSTRAINT workflow_step_status_check CHECK ((VALUE = ANY (ARRAY['pending'::text, 'queued'::text, 'running'::text, 'waiting'::text, 'succeeded'::text, 'failed'::text, 'skipped'::text, 'cancelled'::text])));

CREATE DOMAIN collab.workflow_trigger_type AS text
	CONSTRAINT workflow_trigger_type_check CHECK ((VALUE = ANY (ARRAY['manual'::text, 'webhook'::text, 'schedule'::text])));

CREATE FUNCTION collab._advance_run(run_id uuid) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO ''
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
declare
  r collab.workflow_runs;
  c record;
  queued integer := 0;
  waiting jsonb;
  next_status text;
begin
  select * into r from collab.workflow_runs x where x.id = _advance_run.run_id;
  -- One read of the run's steps: the ready ones, and the counts that settle the run's
  -- status when none is. Every writer of the run's steps holds the run's row lock (the
  -- caller's), so the steps found ready here are still ready in the statement below.
  select array_agg(s.step_id) filter (
           where s.status = 'pending'
             and not exists (select 1 from collab.workflow_step_runs q
                              where q.run_id = s.run_id and q.step_id = any (s.predecessors)
                                and q.status <> 'succeeded')) as ready,
         count(*) as total,
         count(*) filter (where s.status = 'succeeded') as done,
         count(*) filter (where s.status in ('queued', 'running')) as active,
         count(*) filter (where s.status = 'waiting') as waiting
    into c
    from collab.workflow_step_runs s where s.run_id = r.id;
  if c.ready is not null then
    with ready as materialized (
      select s.step_id, s.type, s.kind, s.config, s.max_attempts,
             jsonb_build_object(
               'input', r.input,
               'steps', coalesce((select jsonb_object_agg(q.step_id, q.output)
                                    from collab.workflow_step_runs q
                                   where q.run_id = s.run_id and q.step_id = any (s.predecessors)),
                                 '{}'::jsonb)) as input
        from collab.workflow_step_runs s
       where s.run_id = r.id and s.step_id = any (c.ready) and s.status = 'pending'
    ), enqueued as (
      insert into collab.jobs (type, executor_id, payload, max_attempts, workflow_run_id, workflow_step_id)
      select y.type, r.executor_id,
             jsonb_build_object('run_id', r.id, 'workflow_id', r.workflow_id, 'step_id', y.step_id,
                                'config', y.config) || y.input,
             y.max_attempts, r.id, y.step_id
        from ready y where y.kind = 'job'
       order by y.step_id
      returning id, workflow_step_id
    ), moved as (
      update collab.workflow_step_runs s
         set status = case when y.kind = 'job' then 'queued' else 'waiting' end,
             job_id = e.id, input = y.input, queued_at = now(), updated_at = now()
        from ready y left join enqueued e on e.workflow_step_id = y.step_id
       where s.run_id = r.id and s.step_id = y.step_id
      returning s.step_id, s.status, s.type
    )
    select count(*) filter (where m.status = 'queued'),
           jsonb_agg(jsonb_build_object('run_id', r.id, 'step_id', m.step_id, 'type', m.type) order by m.step_id)
             filter (where m.status = 'waiting')
      into queued, waiting
      from moved m;
    if waiting is not null then
      insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
      select r.id, r.executor_id, 'step_waiting', w.payload, r.id
        from jsonb_array_elements(waiting) with ordinality as w (payload, ord) order by w.ord;
    end if;
    if queued > 0 and r.status = 'running' then
      return 'running';  -- a job step is queued now: the run stays running
    end if;
    select null::text[] as ready, count(*) as total,
           count(*) filter (where s.status = 'succeeded') as done,
           count(*) filter (where s.status in ('queued', 'running')) as active,
           count(*) filter (where s.status = 'waiting') as waiting
      into c
      from collab.workflow_step_runs s where s.run_id = r.id;
  end if;

  next_status := case when c.done = c.total then 'succeeded'
                      when c.active = 0 and c.waiting > 0 then 'paused'
                      else 'running' end;
  if next_status <> r.status then
    perform collab._set_run_status(r.id, next_status);
  end if;
  return next_status;
end
$$;

CREATE FUNCTION collab._artifacts_list_deleted() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  insert into collab.storage_deletions (executor_id, bucket, path)
  values (old.executor_id, old.bucket, old.path);
  return null;
end
$$;

CREATE FUNCTION collab._bulk_match(executor_id text, job_ids uuid[], statuses text[], type text) RETURNS TABLE(id uuid, status text)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select j.id, j.status from collab.jobs j
   where j.executor_id = _bulk_match.executor_id and j.status <> 'running'
     and (_bulk_match.job_ids is null or j.id = any (_bulk_match.job_ids))
     and (_bulk_match.statuses is null or j.status = any (_bulk_match.statuses))
     and (_bulk_match.type is null or j.type = _bulk_match.type)
  union all
  select j.id, j.status from collab.jobs j
   where j.executor_id = _bulk_match.executor_id and j.status = 'running'
     and (_bulk_match.job_ids is null or j.id = any (_bulk_match.job_ids))
     and (_bulk_match.statuses is null or 'running' = any (_bulk_match.statuses))
     and (_bulk_match.type is null or j.type = _bulk_match.type)
$$;

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

CREATE FUNCTION collab._check_purge_arguments(older_than_seconds integer, executor_id text, statuses text[], batch_size integer, cursor jsonb) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  perform collab._check_range('older_than_seconds', older_than_seconds, 0, 2147483647);
  perform collab._check_range('batch_size', batch_size, 1, 10000);
  if statuses is null or cardinality(statuses) = 0
     or not statuses <@ array['succeeded', 'failed', 'cancelled'] then
    perform collab._raise('CL400', 'statuses must be a non-empty subset of succeeded, failed, cancelled');
  end if;
  if cursor is not null and jsonb_typeof(cursor) is distinct from 'object' then
    perform collab._raise('CL400', 'invalid cursor: pass the cursor of the previous batch');
  end if;
  if executor_id is not null then
    perform collab._require_member(executor_id, '{admin}');
  elsif not collab._caller_is_trusted() then
    perform collab._raise('CL403', 'not allowed: purging every executor needs the service role; pass executor_id');
  end if;
end
$$;

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

CREATE TABLE collab.workflows (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    executor_id text NOT NULL,
    name text NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    status text DEFAULT 'draft'::text NOT NULL,
    definition jsonb DEFAULT '{"edges": [], "nodes": []}'::jsonb NOT NULL,
    input_schema jsonb,
    parent_id uuid,
    published_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT workflows_description_check CHECK ((char_length(description) <= 10000)),
    CONSTRAINT workflows_executor_id_check CHECK (((char_length(executor_id) >= 1) AND (char_length(executor_id) <= 200))),
    CONSTRAINT workflows_name_check CHECK (((char_length(name) >= 1) AND (char_length(name) <= 200))),
    CONSTRAINT workflows_status_check CHECK ((status = ANY (ARRAY['draft'::text, 'published'::text, 'archived'::text]))),
    CONSTRAINT workflows_version_check CHECK ((version >= 1))
);

COMMENT ON TABLE collab.workflows IS 'Workflow definitions; status draft|published|archived; published definitions are frozen';

CREATE FUNCTION collab._check_run_input(w collab.workflows, input jsonb) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  errors text[];
begin
  perform collab._check_size('input', input, 1048576);
  errors := collab._input_errors(w.input_schema, input);
  if cardinality(errors) > 0 then
    raise exception using errcode = 'CL400',
      message = format('invalid input for workflow %s: %s', w.id, array_to_string(errors, '; ')),
      detail = to_jsonb(errors)::text;
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

CREATE FUNCTION collab._check_workflow_fields(name text, description text, definition jsonb, input_schema jsonb) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
begin
  if name is not null and char_length(btrim(name)) not between 1 and 200 then
    perform collab._raise('CL400', 'name must be 1-200 characters');
  end if;
  if description is not null and char_length(description) > 10000 then
    perform collab._raise('CL400', 'description must be at most 10000 characters');
  end if;
  if definition is not null then
    if jsonb_typeof(definition) <> 'object' then
      perform collab._raise('CL400', 'definition must be a JSON object {"nodes": [...], "edges": [...]}');
    end if;
    perform collab._check_size('definition', definition, 262144);
  end if;
  if input_schema is not null then
    if jsonb_typeof(input_schema) not in ('object', 'null') then
      perform collab._raise('CL400', 'input_schema must be a JSON object (a JSON Schema) or null');
    end if;
    perform collab._check_size('input_schema', input_schema, 65536);
  end if;
end
$$;

CREATE FUNCTION collab._claim_idempotency_key(executor_id text, scope text, key text, request_hash text) RETURNS uuid
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  k collab.idempotency_keys;
begin
  if key is null or char_length(key) not between 1 and 255 then
    perform collab._raise('CL400', 'idempotency_key must be 1-255 characters');
  end if;
  insert into collab.idempotency_keys (executor_id, scope, key, request_hash)
  values (_claim_idempotency_key.executor_id, _claim_idempotency_key.scope, _claim_idempotency_key.key,
          _claim_idempotency_key.request_hash)
  on conflict do nothing;
  if found then
    return null;
  end if;
  -- Another transaction made the key (the insert waited for it to commit).
  select * into k from collab.idempotency_keys i
   where i.executor_id = _claim_idempotency_key.executor_id and i.scope = _claim_idempotency_key.scope
     and i.key = _claim_idempotency_key.key
     for update;
  if k.request_hash <> _claim_idempotency_key.request_hash then
    perform collab._raise('CL409', format('idempotency key %s was used for another request', quote_literal(key)));
  end if;
  return k.resource_id;
end
$$;

CREATE FUNCTION collab._cron_field(field text, what text, lo integer, hi integer, names text[] DEFAULT NULL::text[]) RETURNS integer[]
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $_$
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
    perform collab._raise('CL400', format('cron %s field is missing', what));
  end if;
  foreach part in array string_to_array(lower(field), ',') loop
    step := 1;
    span := part;
    if part like '%/%' then
      if split_part(part, '/', 2) !~ '^[0-9]+$' or split_part(part, '/', 3) <> ''
         or split_part(part, '/', 2)::numeric not between 1 and hi then
        perform collab._raise('CL400', format('cron %s field: bad step in %s', what, quote_literal(part)));
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
        perform collab._raise('CL400', format('cron %s field: bad range %s', what, quote_literal(part)));
      end if;
      for i in 1 .. cardinality(bounds) loop
        if bounds[i] ~ '^[0-9]+$' and char_length(bounds[i]) <= 4 then
          null;
        elsif names is not null and array_position(names, bounds[i]) is not null then
          bounds[i] := (array_position(names, bounds[i]) - 1 + case when lo = 1 then 1 else 0 end)::text;
        else
          perform collab._raise('CL400', format('cron %s field: %s is not a number%s', what,
            quote_literal(bounds[i]), case when names is not null then ' or a name' else '' end));
        end if;
      end loop;
      a := bounds[1]::integer;
      b := case when cardinality(bounds) = 2 then bounds[2]::integer
                when part like '%/%' then hi else a end;
    end if;
    if a < lo or b > hi or a > b then
      perform collab._raise('CL400', format('cron %s field: %s is outside %s-%s', what, quote_literal(part), lo, hi));
    end if;
    result := result || array(select generate_series(a, b, step));
  end loop;
  return result;
end
$_$;

CREATE FUNCTION collab._cron_next(expr text, tz text, after timestamp with time zone) RETURNS timestamp with time zone
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
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
    perform collab._raise('CL400', 'cron is required');
  end if;
  fields := regexp_split_to_array(btrim(expr), '\s+');
  if cardinality(fields) <> 5 then
    perform collab._raise('CL400', format(
      'cron must have 5 fields (minute hour day-of-month month day-of-week); got %s in %s',
      cardinality(fields), quote_literal(left(expr, 100))));
  end if;
  minutes := collab._cron_field(fields[1], 'minute', 0, 59);
  hours := collab._cron_field(fields[2], 'hour', 0, 23);
  days := collab._cron_field(fields[3], 'day-of-month', 1, 31);
  months := collab._cron_field(fields[4], 'month', 1, 12,
    '{jan,feb,mar,apr,may,jun,jul,aug,sep,oct,nov,dec}');
  weekdays := collab._cron_field(fields[5], 'day-of-week', 0, 7, '{sun,mon,tue,wed,thu,fri,sat}');
  if 7 = any (weekdays) then
    weekdays := weekdays || 0;
  end if;
  any_day := starts_with(fields[3], '*');
  any_weekday := starts_with(fields[5], '*');
  begin
    t := date_trunc('minute', after at time zone tz) + interval '1 minute';
  exception when invalid_parameter_value then
    perform collab._raise('CL400', format('timezone %s is not a known time zone', quote_literal(left(tz, 100))));
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
  perform collab._raise('CL400', format('cron %s never fires', quote_literal(left(expr, 100))));
  return null;
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

CREATE FUNCTION collab._definition_errors(executor_id text, definition jsonb) RETURNS text[]
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  errors text[] := '{}';
  nodes jsonb;
  edges jsonb;
  ids text[];
  srcs text[];
  dsts text[];
  remaining text[];
  removable text[];
  path text[];
  cur text;
  prev text;
  r record;
begin
  if definition is null or jsonb_typeof(definition) <> 'object' then
    return array['definition must be a JSON object {"nodes": [...], "edges": [...]}'];
  end if;
  if octet_length(definition::text) > 262144 then
    return array['definition is larger than 262144 bytes'];
  end if;
  nodes := coalesce(definition -> 'nodes', '[]'::jsonb);
  edges := coalesce(nullif(definition -> 'edges', 'null'::jsonb), '[]'::jsonb);
  if jsonb_typeof(nodes) <> 'array' then
    return array['nodes must be a JSON array'];
  end if;
  if jsonb_typeof(edges) <> 'array' then
    return array['edges must be a JSON array'];
  end if;
  if jsonb_array_length(nodes) = 0 then
    return array['the workflow has no nodes: add at least one step'];
  end if;
  if jsonb_array_length(nodes) > 200 then
    errors := errors || format('the workflow has %s nodes; at most 200 are allowed', jsonb_array_length(nodes));
  end if;
  if jsonb_array_length(edges) > 1000 then
    errors := errors || format('the workflow has %s edges; at most 1000 are allowed', jsonb_array_length(edges));
  end if;

  -- Nodes, one by one.
  for r in select n.ord - 1 as i, n.v from jsonb_array_elements(nodes) with ordinality as n (v, ord) loop
    if jsonb_typeof(r.v) <> 'object' then
      errors := errors || format('nodes[%s] must be a JSON object {"id", "type", "data"}', r.i);
    elsif jsonb_typeof(r.v -> 'id') is distinct from 'string' or not collab._is_step_id(r.v ->> 'id') then
      errors := errors || format('nodes[%s]: id must be a string of 1-100 characters: letters, digits and _ . : @ / + - (got %s)',
                                 r.i, coalesce(left((r.v -> 'id')::text, 60), 'nothing'));
    elsif jsonb_typeof(r.v -> 'type') is distinct from 'string' or char_length(r.v ->> 'type') not between 1 and 200 then
      errors := errors || format('node "%s": type must be a step type name', r.v ->> 'id');
    elsif jsonb_typeof(coalesce(r.v -> 'data', '{}'::jsonb)) not in ('object', 'null') then
      errors := errors || format('node "%s": data must be a JSON object', r.v ->> 'id');
    elsif r.v -> 'data' ? 'max_attempts'
          and (jsonb_typeof(r.v -> 'data' -> 'max_attempts') <> 'number'
               or (r.v -> 'data' ->> 'max_attempts')::numeric not between 1 and 1000
               or (r.v -> 'data' ->> 'max_attempts')::numeric % 1 <> 0) then
      errors := errors || format('node "%s": data.max_attempts must be an integer between 1 and 1000', r.v ->> 'id');
    end if;
  end loop;

  for r in select n.v ->> 'id' as id, array_agg(n.ord - 1 order by n.ord) as at
             from jsonb_array_elements(nodes) with ordinality as n (v, ord)
            where jsonb_typeof(n.v) = 'object' and jsonb_typeof(n.v -> 'id') = 'string'
            group by n.v ->> 'id' having count(*) > 1 order by min(n.ord) loop
    errors := errors || format('duplicate node id "%s" (nodes[%s])', r.id, array_to_string(r.at, '], nodes['));
  end loop;

  select array_agg(distinct n.v ->> 'id') into ids
    from jsonb_array_elements(nodes) as n (v)
   where jsonb_typeof(n.v) = 'object' and jsonb_typeof(n.v -> 'id') = 'string';
  ids := coalesce(ids, '{}');

  -- Edges.
  for r in select e.ord - 1 as i, e.v from jsonb_array_elements(edges) with ordinality as e (v, ord) loop
    if jsonb_typeof(r.v) <> 'object' then
      errors := errors || format('edges[%s] must be a JSON object {"id", "source", "target"}', r.i);
    elsif jsonb_typeof(r.v -> 'id') is distinct from 'string' or not collab._is_step_id(r.v ->> 'id') then
      errors := errors || format('edges[%s]: id must be a string of 1-100 characters: letters, digits and _ . : @ / + - (got %s)',
                                 r.i, coalesce(left((r.v -> 'id')::text, 60), 'nothing'));
    else
      if jsonb_typeof(r.v -> 'source') is distinct from 'string' or not (r.v ->> 'source') = any (ids) then
        errors := errors || format('edge "%s": source %s is not a node', r.v ->> 'id',
                                   coalesce((r.v -> 'source')::text, 'is missing and'));
      end if;
      if jsonb_typeof(r.v -> 'target') is distinct from 'string' or not (r.v ->> 'target') = any (ids) then
        errors := errors || format('edge "%s": target %s is not a node', r.v ->> 'id',
                                   coalesce((r.v -> 'target')::text, 'is missing and'));
      end if;
    end if;
  end loop;

  for r in select e.v ->> 'id' as id, array_agg(e.ord - 1 order by e.ord) as at
             from jsonb_array_elements(edges) with ordinality as e (v, ord)
            where jsonb_typeof(e.v) = 'object' and jsonb_typeof(e.v -> 'id') = 'string'
            group by e.v ->> 'id' having count(*) > 1 order by min(e.ord) loop
    errors := errors || format('duplicate edge id "%s" (edges[%s])', r.id, array_to_string(r.at, '], edges['));
  end loop;

  -- Cycles (over the edges between existing nodes): peel off nodes without incoming
  -- edges (Kahn); whatever remains lies on or behind a cycle. Walk predecessors from the
  -- smallest remaining id until a node repeats: that stretch is a cycle.
  select coalesce(array_agg(x.s order by x.s, x.t), '{}'), coalesce(array_agg(x.t order by x.s, x.t), '{}')
    into srcs, dsts
    from (select distinct e.v ->> 'source' as s, e.v ->> 'target' as t
            from jsonb_array_elements(edges) as e (v)
           where jsonb_typeof(e.v) = 'object' and (e.v ->> 'source') = any (ids)
             and (e.v ->> 'target') = any (ids)) x;
  remaining := ids;
  loop
    select array_agg(i) into removable from unnest(remaining) as i
     where not exists (select 1 from unnest(srcs, dsts) as d (source, target)
                        where d.target = i and d.source = any (remaining));
    exit when removable is null;
    select coalesce(array_agg(i), '{}') into remaining from unnest(remaining) as i where not i = any (removable);
  end loop;
  if cardinality(remaining) > 0 then
    select min(i) into cur from unnest(remaining) as i;
    path := array[cur];
    loop
      select min(d.source) into prev from unnest(srcs, dsts) as d (source, target)
       where d.target = cur and d.source = any (remaining);
      if prev = any (path) then
        -- path runs backwards along the edges (each element's predecessor follows it):
        -- the cycle is its tail from prev; print it forwards, from its smallest id.
        path := path[array_position(path, prev):];
        select array_agg(p order by o desc) into path from unnest(path) with ordinality as u (p, o);
        select array_agg(p order by (o + cardinality(path) - array_position(path, (select min(x) from unnest(path) x))) % cardinality(path))
          into path from unnest(path) with ordinality as u (p, o);
        errors := errors || format('cycle: %s -> %s', array_to_string(path, ' -> '), path[1]);
        exit;
      end if;
      path := path || prev;
      cur := prev;
    end loop;
  end if;

  -- Step types.
  for r in select n.v ->> 'id' as id, n.v ->> 'type' as type
             from jsonb_array_elements(nodes) with ordinality as n (v, ord)
            where jsonb_typeof(n.v) = 'object' and jsonb_typeof(n.v -> 'type') = 'string'
              and not exists (select 1 from collab.step_types s
                               where s.name = n.v ->> 'type'
                                 and s.executor_id in ('*', _definition_errors.executor_id))
            order by n.ord loop
    errors := errors || format('node "%s": unknown step type "%s" (not in the catalog of executor %s)',
                               r.id, r.type, executor_id);
  end loop;
  return errors;
end
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

CREATE FUNCTION collab._fold_job_counts() RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  moved bigint;
begin
  if current_setting('transaction_isolation') <> 'read committed'
     or not pg_try_advisory_xact_lock(6176005410530163404) then
    return 0;
  end if;
  with gone as (
    delete from collab.job_count_deltas returning executor_id, type, status, minute, n
  ), aged as (
    delete from collab.job_counts c
     where c.minute > '-infinity' and c.minute < now() - interval '3 hours'
    returning executor_id, type, status, minute, n
  ), folded as (
    insert into collab.job_counts as c (executor_id, type, status, minute, n)
    select x.executor_id, x.type, x.status,
           case when x.minute < now() - interval '3 hours' then '-infinity' else x.minute end,
           sum(x.n)
      from (select * from gone union all select * from aged) x
     group by 1, 2, 3, 4
    on conflict (executor_id, type, status, minute) do update set n = c.n + excluded.n
  )
  select count(*) into moved from gone;
  delete from collab.job_counts c where c.n = 0;
  return moved;
end
$$;

CREATE FUNCTION collab._hint_event_readers(executor_ids text[], job_ids text[]) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  sent jsonb := coalesce(nullif(current_setting('collab.event_hints', true), ''), '{}');
  was constant jsonb := sent;
  named jsonb;
  job text;
begin
  if sent ? '*' then
    return;
  end if;
  if cardinality(executor_ids) > 8 then
    perform pg_notify('collab_events', json_build_object('executor_id', null, 'job_id', null)::text);
    perform set_config('collab.event_hints', '{"*": null}', true);
    return;
  end if;
  for i in 1 .. coalesce(cardinality(executor_ids), 0) loop
    named := sent -> executor_ids[i];  -- sql null: nothing yet; json null: every job
    job := job_ids[i];
    continue when named = 'null' or named ? job;
    if job is null or jsonb_array_length(coalesce(named, '[]')) >= 4 then
      job := null;
      named := 'null';
    else
      named := coalesce(named, '[]') || to_jsonb(job);
    end if;
    perform pg_notify('collab_events',
                      json_build_object('executor_id', executor_ids[i], 'job_id', job)::text);
    sent := jsonb_set(sent, array[executor_ids[i]], named);
  end loop;
  if sent <> was then
    perform set_config('collab.event_hints', sent::text, true);
  end if;
end
$$;

CREATE FUNCTION collab._hmac_sha256(key bytea, message bytea) RETURNS bytea
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
declare
  k bytea := key;
  inner_key bytea;
  outer_key bytea;
begin
  if length(k) > 64 then
    k := sha256(k);
  end if;
  k := k || decode(repeat('00', 64 - length(k)), 'hex');
  inner_key := k;
  outer_key := k;
  for i in 0 .. 63 loop
    inner_key := set_byte(inner_key, i, get_byte(k, i) # 54);   -- 0x36
    outer_key := set_byte(outer_key, i, get_byte(k, i) # 92);   -- 0x5c
  end loop;
  return sha256(outer_key || sha256(inner_key || message));
end
$$;

CREATE FUNCTION collab._input_errors(schema jsonb, input jsonb) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
declare
  errors text[] := '{}';
  r record;
  types text[];
  actual text;
  n numeric;
  len integer;
  lo text;
  hi text;
  unit text;
begin
  if jsonb_typeof(input) is distinct from 'object' then
    return array['input must be a JSON object'];
  end if;
  if schema is null or jsonb_typeof(schema) <> 'object' then
    return errors;
  end if;
  if jsonb_typeof(schema -> 'required') = 'array' then
    for r in select k from jsonb_array_elements_text(schema -> 'required') as k where not input ? k loop
      errors := errors || format('input: "%s" is required', r.k);
    end loop;
  end if;
  if jsonb_typeof(schema -> 'properties') = 'object' then
    for r in select p.key, p.value as prop, input -> p.key as v
               from jsonb_each(schema -> 'properties') as p
              where input ? p.key and jsonb_typeof(p.value) = 'object' order by p.key loop
      types := case jsonb_typeof(r.prop -> 'type')
                 when 'string' then array[r.prop ->> 'type']
                 when 'array' then array(select jsonb_array_elements_text(r.prop -> 'type'))
               end;
      actual := jsonb_typeof(r.v);
      if types is not null
         and not (actual = any (types)
                  or (actual = 'number' and 'integer' = any (types) and (r.v #>> '{}')::numeric % 1 = 0)) then
        errors := errors || format('input.%s: must be %s (got %s)', r.key, array_to_string(types, ' or '), actual);
        continue;  -- the other keywords would only repeat it
      end if;
      if jsonb_typeof(r.prop -> 'enum') = 'array'
         and not exists (select 1 from jsonb_array_elements(r.prop -> 'enum') as e (v) where e.v = r.v) then
        errors := errors || format('input.%s: must be one of %s', r.key, r.prop -> 'enum');
      end if;
      if r.prop ? 'const' and r.v <> r.prop -> 'const' then
        errors := errors || format('input.%s: must be %s', r.key, r.prop -> 'const');
      end if;
      if actual = 'number' then
        n := (r.v #>> '{}')::numeric;
        if jsonb_typeof(r.prop -> 'minimum') = 'number' and n < (r.prop ->> 'minimum')::numeric then
          errors := errors || format('input.%s: must be at least %s', r.key, r.prop ->> 'minimum');
        end if;
        if jsonb_typeof(r.prop -> 'maximum') = 'number' and n > (r.prop ->> 'maximum')::numeric then
          errors := errors || format('input.%s: must be at most %s', r.key, r.prop ->> 'maximum');
        end if;
        if jsonb_typeof(r.prop -> 'exclusiveMinimum') = 'number' and n <= (r.prop ->> 'exclusiveMinimum')::numeric then
          errors := errors || format('input.%s: must be more than %s', r.key, r.prop ->> 'exclusiveMinimum');
        end if;
        if jsonb_typeof(r.prop -> 'exclusiveMaximum') = 'number' and n >= (r.prop ->> 'exclusiveMaximum')::numeric then
          errors := errors || format('input.%s: must be less than %s', r.key, r.prop ->> 'exclusiveMaximum');
        end if;
      elsif actual in ('string', 'array') then
        -- minLength/maxLength count a string's characters, minItems/maxItems an array's items.
        len := case when actual = 'string' then char_length(r.v #>> '{}') else jsonb_array_length(r.v) end;
        lo := case when actual = 'string' then 'minLength' else 'minItems' end;
        hi := case when actual = 'string' then 'maxLength' else 'maxItems' end;
        unit := case when actual = 'string' then 'characters' else 'items' end;
        if jsonb_typeof(r.prop -> lo) = 'number' and len < (r.prop ->> lo)::numeric then
          errors := errors || format('input.%s: must have at least %s %s', r.key, r.prop ->> lo, unit);
        end if;
        if jsonb_typeof(r.prop -> hi) = 'number' and len > (r.prop ->> hi)::numeric then
          errors := errors || format('input.%s: must have at most %s %s', r.key, r.prop ->> hi, unit);
        end if;
      end if;
    end loop;
  end if;
  if schema -> 'additionalProperties' = 'false'::jsonb then
    for r in select k from jsonb_object_keys(input) as k
              where not coalesce(schema -> 'properties', '{}'::jsonb) ? k order by k loop
      errors := errors || format('input: "%s" is not allowed (additionalProperties is false)', r.k);
    end loop;
  end if;
  return errors;
end
$$;

CREATE TABLE collab.jobs (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    type collab.job_type NOT NULL,
    executor_id collab.job_executor_id NOT NULL,
    status text DEFAULT 'queued'::text NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    result jsonb,
    last_error text,
    priority integer DEFAULT 0 NOT NULL,
    attempts collab.job_attempts DEFAULT 0 NOT NULL,
    max_attempts collab.job_max_attempts DEFAULT 3 NOT NULL,
    idempotency_key collab.job_idempotency_key,
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
    workflow_run_id uuid,
    workflow_step_id text,
    rescues collab.job_rescues DEFAULT 0 NOT NULL,
    forgiven_attempts collab.job_forgiven_attempts DEFAULT 0 NOT NULL,
    solo boolean,
    trace_context jsonb,
    CONSTRAINT jobs_running_has_owner CHECK (((status <> 'running'::text) OR (lease_owner IS NOT NULL))),
    CONSTRAINT jobs_status_check CHECK ((status = ANY (ARRAY['queued'::text, 'running'::text, 'succeeded'::text, 'failed'::text, 'cancelled'::text])))
);

COMMENT ON TABLE collab.jobs IS 'One row per job; status queued|running|succeeded|failed|cancelled';

COMMENT ON COLUMN collab.jobs.rescues IS 'How many of this job''s leases expired (its worker died or froze); > 0 makes it a suspect, claimed alone';

COMMENT ON COLUMN collab.jobs.forgiven_attempts IS 'Attempts not charged: one lost to a crash while the job ran beside others (at most 1)';

COMMENT ON COLUMN collab.jobs.solo IS 'How the current (or last) attempt was claimed: true alone (a suspect), false beside others (claim_jobs_v2), null by claim_jobs_v1';

COMMENT ON COLUMN collab.jobs.trace_context IS 'The enqueuer''s trace context (W3C traceparent/tracestate), set by assign_job(s)_v2; not part of the job''s identity';

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

CREATE FUNCTION collab._is_step_id(value text) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $_$
begin
  return value is not null and char_length(value) <= 100 and value ~ '^[A-Za-z0-9][A-Za-z0-9_.:@/+-]*$';
end
$_$;

CREATE FUNCTION collab._job_events_notify() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  low_executor text;
  high_executor text;
  low_job text;
  high_job text;
  hinted text;
  executor_ids text[];
  job_ids text[];
begin
  -- One executor (the common case) takes one plain aggregate, as before.
  select min(n.executor_id), max(n.executor_id), min(n.job_id::text), max(n.job_id::text)
    into low_executor, high_executor, low_job, high_job
    from new_rows n;
  if low_executor is null then
    return null;
  elsif low_executor = high_executor then
    hinted := current_setting('collab.event_hints', true);
    if (hinted is null or hinted = '') and low_job = high_job then
      perform pg_notify('collab_events',
                        json_build_object('executor_id', low_executor, 'job_id', low_job)::text);
      perform set_config('collab.event_hints',
                         json_build_object(low_executor, json_build_array(low_job))::text, true);
      return null;
    end if;
    executor_ids := array[low_executor];
    job_ids := array[case when low_job = high_job then low_job end];
  else
    select array_agg(e.executor_id), array_agg(e.job_id)
      into executor_ids, job_ids
      from (select n.executor_id,
                   case when min(n.job_id::text) = max(n.job_id::text) then min(n.job_id::text) end as job_id
              from new_rows n
             group by n.executor_id
             limit 9) e;  -- more than 8 is "everything"
  end if;
  perform collab._hint_event_readers(executor_ids, job_ids);
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
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
  declare
    woken text[];
  begin
    with logged as (
      insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
      select n.id, n.executor_id, 'queued',
             case when n.workflow_step_id is null
                  then jsonb_build_object('type', n.type, 'priority', n.priority, 'run_at', n.next_run_at)
                  else jsonb_build_object('type', n.type, 'priority', n.priority, 'run_at', n.next_run_at,
                                          'step_id', n.workflow_step_id) end,
             n.workflow_run_id
        from new_rows n
    )
    insert into collab.job_count_deltas (executor_id, type, status, minute, n)
    select r.executor_id, r.type, r.status,
           case when r.finished_at is null or r.status not in ('succeeded', 'failed', 'cancelled')
                then '-infinity' else date_bin('1 minute', r.finished_at, timestamptz 'epoch') end,
           count(*)
      from new_rows r group by 1, 2, 3, 4;
    select array_agg(distinct n.executor_id) into woken from new_rows n where n.next_run_at <= now();
    if woken is not null then
      perform collab._notify_claimable(woken);
    end if;
    if random() < 1.0 / 512 then
      perform collab._fold_job_counts();
    end if;
    return null;
  end
  $$;

CREATE FUNCTION collab._jobs_after_update() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    SET enable_nestloop TO 'off'
    AS $$
  declare
    woken text[];
  begin
    with changed as materialized (
      select n.id, n.executor_id, n.status, n.next_run_at, o.status as old_status,
             n.workflow_run_id, n.workflow_step_id,
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
      insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
      select c.id, c.executor_id, c.event_type,
             case when c.workflow_step_id is null
                    or c.event_type not in ('claimed', 'retry_scheduled', 'succeeded') then c.payload
                  else c.payload || jsonb_build_object('step_id', c.workflow_step_id) end,
             case when c.event_type in ('claimed', 'retry_scheduled', 'succeeded') then c.workflow_run_id end
        from changed c where c.event_type is not null
       order by c.event_type = 'claimed', c.id
    ), counted as (
      insert into collab.job_count_deltas (executor_id, type, status, minute, n)
      select r.executor_id, r.type, r.status,
             case when r.finished_at is null or r.status not in ('succeeded', 'failed', 'cancelled')
                  then '-infinity' else date_bin('1 minute', r.finished_at, timestamptz 'epoch') end,
             sum(r.d)
        from (select n.executor_id, n.type, n.status, n.finished_at, 1 as d from new_rows n
              union all
              select o.executor_id, o.type, o.status, o.finished_at, -1 from old_rows o) r
       group by 1, 2, 3, 4
      having sum(r.d) <> 0
    )
    select array_agg(distinct c.executor_id) into woken
      from changed c
     where c.status = 'queued' and c.old_status <> 'queued' and c.next_run_at <= now();
    if woken is not null then
      perform collab._notify_claimable(woken);
    end if;
    if random() < 1.0 / 512 then
      perform collab._fold_job_counts();
    end if;
    return null;
  end
  $$;

CREATE FUNCTION collab._jobs_count_changes() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if tg_op = 'INSERT' then
    insert into collab.job_count_deltas (executor_id, type, status, minute, n)
    select r.executor_id, r.type, r.status,
           case when r.finished_at is null or r.status not in ('succeeded', 'failed', 'cancelled')
                then '-infinity' else date_bin('1 minute', r.finished_at, timestamptz 'epoch') end,
           count(*)
      from new_rows r group by 1, 2, 3, 4;
  elsif tg_op = 'DELETE' then
    insert into collab.job_count_deltas (executor_id, type, status, minute, n)
    select r.executor_id, r.type, r.status,
           case when r.finished_at is null or r.status not in ('succeeded', 'failed', 'cancelled')
                then '-infinity' else date_bin('1 minute', r.finished_at, timestamptz 'epoch') end,
           -count(*)
      from old_rows r group by 1, 2, 3, 4;
  else
    -- Rows whose key did not change (a lease extension) cancel out and add nothing.
    insert into collab.job_count_deltas (executor_id, type, status, minute, n)
    select r.executor_id, r.type, r.status,
           case when r.finished_at is null or r.status not in ('succeeded', 'failed', 'cancelled')
                then '-infinity' else date_bin('1 minute', r.finished_at, timestamptz 'epoch') end,
           sum(r.d)
      from (select n.executor_id, n.type, n.status, n.finished_at, 1 as d from new_rows n
            union all
            select o.executor_id, o.type, o.status, o.finished_at, -1 from old_rows o) r
     group by 1, 2, 3, 4
    having sum(r.d) <> 0;
  end if;
  if random() < 1.0 / 512 then
    perform collab._fold_job_counts();
  end if;
  return null;
end
$$;

CREATE FUNCTION collab._jobs_count_truncate() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  delete from collab.job_count_deltas;
  delete from collab.job_counts;
  return null;
end
$$;

CREATE FUNCTION collab._jobs_workflow_after_update() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  run_ids uuid[];
  orphans uuid[];
  rid uuid;
  r collab.workflow_runs;
  d record;
begin
  perform set_config('collab.workflow_jobs', '', true);

  -- A job claimed while its step is no longer active (the run was cancelled or failed
  -- while the claim held the job) is cancelled now: the worker's next extend or complete
  -- is refused (lease lost).
  --
  -- The step rows are looked up by scalar subqueries (one index probe per job). Only a
  -- claim flags an orphan; any running job of the statement whose step is not active
  -- with it is one (a job claimed earlier is checked by its own claim).
  if current_setting('collab.workflow_orphans', true) = 'on' then
    perform set_config('collab.workflow_orphans', '', true);
    select array_agg(n.id) into orphans
      from new_rows n
     where n.workflow_run_id is not null and n.status = 'running'
       and (select s.status from collab.workflow_step_runs s
             where s.run_id = n.workflow_run_id and s.step_id = n.workflow_step_id
               and s.job_id = n.id) is distinct from 'queued';
  end if;
  if orphans is not null then
    update collab.jobs j
       set status = 'cancelled', finished_at = now(), updated_at = now(),
           last_error = format('cancelled: step %s of run %s is no longer active', j.workflow_step_id, j.workflow_run_id)
     where j.id = any (orphans) and j.status = 'running';
  end if;

  -- Finished jobs of active steps: lock their runs in id order, then settle each run.
  -- (A step that is not active for its job now never will be again: a retried run gives
  -- the step a new job. So the filter needs no lock.)
  select array_agg(distinct n.workflow_run_id order by n.workflow_run_id) into run_ids
    from new_rows n
   where n.status in ('succeeded', 'failed', 'cancelled')
     and (select s.status from collab.workflow_step_runs s
           where s.run_id = n.workflow_run_id and s.step_id = n.workflow_step_id
             and s.job_id = n.id) = 'queued';
  if run_ids is null then
    return null;
  end if;
  foreach rid in array run_ids loop
    select * into r from collab.workflow_runs x where x.id = rid for update;
    with done as (
      update collab.workflow_step_runs s
         set status = case when n.status = 'succeeded' then 'succeeded'
                           when n.status = 'failed' then 'failed' else 'cancelled' end,
             output = case when n.status = 'succeeded' then n.result end,
             error = case when n.status = 'failed' then left(coalesce(n.last_error, 'failed'), 16384)
                          when n.status = 'cancelled'
                            then left(coalesce('its job was cancelled: ' || n.last_error, 'its job was cancelled'), 16384)
                     end,
             completed_at = now(), updated_at = now()
        from new_rows n
       where s.run_id = rid and n.workflow_run_id = rid and s.step_id = n.workflow_step_id and s.job_id = n.id
         and s.status = 'queued'
         and n.status in ('succeeded', 'failed', 'cancelled')
      returning s.step_id, s.status, s.error, s.job_id
    )
    select count(*) as n,
           (array_agg(format('step %s %s: %s', t.step_id, case when t.status = 'failed' then 'failed' else 'was cancelled' end, t.error)
                      order by t.step_id) filter (where t.status <> 'succeeded'))[1] as failure,
           jsonb_agg(jsonb_build_object('event_type', 'step_' || t.status, 'payload',
                       jsonb_build_object('run_id', rid, 'step_id', t.step_id, 'job_id', t.job_id,
                                          'error', left(t.error, 2000))) order by t.step_id)
             filter (where t.status <> 'succeeded') as stopped
      into d
      from done t;
    if d.stopped is not null then
      insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
      select rid, r.executor_id, e.v ->> 'event_type', e.v -> 'payload', rid
        from jsonb_array_elements(d.stopped) with ordinality as e (v, ord) order by e.ord;
    end if;
    if d.n > 0 and collab._event_listeners_present() then
      perform collab._hint_event_readers(array[r.executor_id], array[rid::text]);
    end if;
    continue when d.n = 0 or r.status not in ('pending', 'running', 'paused');
    if d.failure is not null then
      perform collab._stop_run(rid, 'failed', d.failure);
    else
      perform collab._advance_run(rid);
    end if;
  end loop;
  return null;
end
$$;

CREATE FUNCTION collab._jobs_workflow_before_delete() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  perform collab._raise('CL412', format('cannot delete job %s: it is step %s of run %s; cancel the run (cancel_run_v1) instead',
                                        old.id, old.workflow_step_id, old.workflow_run_id));
  return null;
end
$$;

CREATE FUNCTION collab._jobs_workflow_before_update() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  -- As _refuse_step_job_retry (20261201052200) did.
  if old.workflow_run_id is not null and old.status in ('succeeded', 'failed', 'cancelled')
     and new.status = 'queued' then
    perform collab._raise('CL412', format(
      'cannot retry job %s on its own: it is step %s of run %s; retry the run (retry_run_v1), which re-runs its failed steps',
      old.id, old.workflow_step_id, old.workflow_run_id));
  end if;
  if new.workflow_run_id is null then
    return new;
  end if;
  if (new.status = 'running' and new.attempts > old.attempts)
     or (old.status = 'running' and new.status = 'queued') then
    -- As _jobs_workflow_claimed (20261204200000) did.
    if new.status = 'running' then
      -- collab_private._lock_run_claims(run, false), inline: a call of a function with
      -- a SET clause cost 13 us a claim (pg_stat_statements), the lock itself 1.6 us.
      perform pg_advisory_xact_lock_shared(1129078855, hashtext(new.workflow_run_id::text));
      perform 1 from collab.workflow_step_runs s
       where s.run_id = new.workflow_run_id and s.step_id = new.workflow_step_id
         and s.job_id = new.id and s.status = 'queued';
      if not found then
        perform set_config('collab.workflow_jobs', 'on', true);
        perform set_config('collab.workflow_orphans', 'on', true);
      end if;
    end if;
    if collab._event_listeners_present() then
      -- As 20261202020000 made it: one hint per transaction, not one per claimed step.
      perform collab._hint_event_readers(array[new.executor_id], array[new.workflow_run_id::text]);
    end if;
  elsif new.status in ('succeeded', 'failed', 'cancelled') and new.status <> old.status then
    -- As _jobs_workflow_flag (20261204200000) did: the finish trigger's flag.
    perform set_config('collab.workflow_jobs', 'on', true);
  end if;
  return new;
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

CREATE TABLE collab.workflow_runs (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    workflow_id uuid NOT NULL,
    workflow_version integer NOT NULL,
    executor_id text NOT NULL,
    status collab.workflow_run_status DEFAULT 'pending'::text NOT NULL,
    trigger_type collab.workflow_trigger_type DEFAULT 'manual'::text NOT NULL,
    input jsonb DEFAULT '{}'::jsonb NOT NULL,
    context jsonb DEFAULT '{}'::jsonb NOT NULL,
    error text,
    idempotency_key collab.workflow_run_idempotency_key,
    schedule_id uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    started_at timestamp with time zone,
    completed_at timestamp with time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
)
WITH (fillfactor='70');

COMMENT ON TABLE collab.workflow_runs IS 'Workflow runs; status pending|running|paused|succeeded|failed|cancelled';

CREATE FUNCTION collab._lock_run(run_id uuid, roles text[], allowed_statuses text[] DEFAULT NULL::text[], verb text DEFAULT NULL::text) RETURNS collab.workflow_runs
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  r collab.workflow_runs;
begin
  if run_id is null then
    perform collab._raise('CL400', 'run_id is required');
  end if;
  select * into r from collab.workflow_runs where id = _lock_run.run_id for update;
  if not found or not collab._caller_can_see(r.executor_id) then
    perform collab._raise('CL404', format('run %s not found', run_id));
  end if;
  perform collab._require_member(r.executor_id, roles);
  if allowed_statuses is not null and not r.status = any (allowed_statuses) then
    perform collab._raise('CL412', format('cannot %s run %s: it is %s', verb, r.id, r.status));
  end if;
  return r;
end
$$;

CREATE TABLE collab.workflow_schedules (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    workflow_id uuid NOT NULL,
    executor_id text NOT NULL,
    cron text NOT NULL,
    timezone text DEFAULT 'UTC'::text NOT NULL,
    input jsonb DEFAULT '{}'::jsonb NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    next_fire_at timestamp with time zone NOT NULL,
    last_fired_at timestamp with time zone,
    last_run_id uuid,
    last_error text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT workflow_schedules_cron_check CHECK (((char_length(cron) >= 1) AND (char_length(cron) <= 200))),
    CONSTRAINT workflow_schedules_timezone_check CHECK (((char_length(timezone) >= 1) AND (char_length(timezone) <= 100)))
);

COMMENT ON TABLE collab.workflow_schedules IS 'Cron triggers of workflows; fired by fire_due_schedules_v1';

CREATE FUNCTION collab._lock_schedule(schedule_id uuid, roles text[]) RETURNS collab.workflow_schedules
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  s collab.workflow_schedules;
begin
  if schedule_id is null then
    perform collab._raise('CL400', 'schedule_id is required');
  end if;
  select * into s from collab.workflow_schedules x where x.id = _lock_schedule.schedule_id for update;
  if not found or not collab._caller_can_see(s.executor_id) then
    perform collab._raise('CL404', format('schedule %s not found', schedule_id));
  end if;
  perform collab._require_member(s.executor_id, roles);
  return s;
end
$$;

CREATE FUNCTION collab._lock_workflow(workflow_id uuid, roles text[], allowed_statuses text[] DEFAULT NULL::text[], verb text DEFAULT NULL::text) RETURNS collab.workflows
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  w collab.workflows;
begin
  if workflow_id is null then
    perform collab._raise('CL400', 'workflow_id is required');
  end if;
  select * into w from collab.workflows where id = _lock_workflow.workflow_id for update;
  if not found or not collab._caller_can_see(w.executor_id) then
    perform collab._raise('CL404', format('workflow %s not found', workflow_id));
  end if;
  perform collab._require_member(w.executor_id, roles);
  if allowed_statuses is not null and not w.status = any (allowed_statuses) then
    perform collab._raise('CL412', format('cannot %s workflow %s: it is %s%s', verb, w.id, w.status,
      case when w.status <> 'draft' and verb = 'update'
           then ' (a published definition is frozen; duplicate_workflow_v1 makes an editable draft)' else '' end));
  end if;
  return w;
end
$$;

CREATE FUNCTION collab._notify_claimable(executor_ids text[]) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  perform collab._notify_waiting_workers(executor_ids);
end
$$;

CREATE FUNCTION collab._notify_waiting_workers(executor_ids text[]) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  e text;
begin
  if executor_ids is null or cardinality(executor_ids) = 0 then
    return;
  end if;
  if cardinality(executor_ids) > 8 then
    perform pg_notify('collab_jobs', '*');
    return;
  end if;
  foreach e in array executor_ids loop
    perform pg_advisory_xact_lock_shared(1668246641, hashtext(e));  -- NOTIFYING, to commit
    if pg_try_advisory_lock(1668246640, hashtext(e)) then            -- WAITING: nobody holds it
      perform pg_advisory_unlock(1668246640, hashtext(e));
    else
      perform pg_notify('collab_jobs', e);
    end if;
  end loop;
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

CREATE FUNCTION collab._purge_dead_letters_batch(of_executor text, before timestamp with time zone, batch_size integer) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  n integer;
begin
  if before is null then
    return 0;
  end if;
  with picked as (
    select d.id from collab.job_dead_letters d
     where d.created_at < before and (of_executor is null or d.executor_id = of_executor)
     order by d.created_at
     limit batch_size
       for update skip locked
  ), gone as (
    delete from collab.job_dead_letters d using picked p where d.id = p.id returning 1
  )
  select count(*) into n from gone;
  return n;
end
$$;

CREATE FUNCTION collab._purge_jobs_batch(of_executor text, succeeded_before timestamp with time zone, failed_before timestamp with time zone, cancelled_before timestamp with time zone, batch_size integer, after jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  horizon timestamptz := greatest(succeeded_before, failed_before, cancelled_before);
  after_at timestamptz;
  after_id uuid;
  n_jobs integer;
  n_events integer;
  last_at timestamptz;
  last_id uuid;
begin
  if horizon is null then
    return jsonb_build_object('purged', 0, 'events', 0, 'cursor', null, 'done', true);
  end if;
  begin
    after_at := (after ->> 'finishedAt')::timestamptz;
    after_id := (after ->> 'id')::uuid;
  exception when others then
    perform collab._raise('CL400', 'invalid cursor: pass the cursor of the previous batch');
  end;
  with picked as (
    select j.id, j.finished_at from collab.jobs j
     where j.finished_at < horizon
       and (after_at is null or (j.finished_at >= after_at and (j.finished_at, j.id) > (after_at, after_id)))
       and (of_executor is null or j.executor_id = of_executor)
       and ((j.status = 'succeeded' and j.finished_at < succeeded_before)
            or (j.status = 'failed' and j.finished_at < failed_before)
            or (j.status = 'cancelled' and j.finished_at < cancelled_before))
       and (j.workflow_run_id is null
            or not exists (select 1 from collab.workflow_runs r
                            where r.id = j.workflow_run_id and r.status in ('pending', 'running', 'paused')))
     order by j.finished_at, j.id
     limit batch_size
       for update of j skip locked
  ), gone as (
    delete from collab.jobs j using picked p where j.id = p.id
    returning j.id, j.finished_at
  ), events as (
    delete from collab.job_events e using gone g where e.job_id = g.id and e.run_id is null
    returning 1
  ), tail as (
    select g.finished_at, g.id from gone g order by g.finished_at desc, g.id desc limit 1
  )
  select (select count(*) from gone), (select count(*) from events),
         (select t.finished_at from tail t), (select t.id from tail t)
    into n_jobs, n_events, last_at, last_id;
  return jsonb_build_object(
    'purged', n_jobs, 'events', n_events,
    'cursor', case when n_jobs < batch_size then null
                   else jsonb_build_object('finishedAt', last_at, 'id', last_id) end,
    'done', n_jobs < batch_size);
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

CREATE FUNCTION collab._refuse_step_dead_letter_retry() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  dead collab.jobs;
begin
  select * into dead from collab.jobs j where j.id = old.job_id;
  if dead.workflow_run_id is not null
     and not exists (select 1 from collab.jobs n
                      where n.id = new.retried_job_id and n.workflow_run_id = dead.workflow_run_id
                        and n.workflow_step_id = dead.workflow_step_id) then
    perform collab._raise('CL412', format(
      'cannot retry dead letter %s on its own: its job %s was step %s of run %s; retry the run (retry_run_v1), which re-runs its failed steps',
      old.id, dead.id, dead.workflow_step_id, dead.workflow_run_id));
  end if;
  return new;
end
$$;

CREATE FUNCTION collab._remember_idempotency_key(executor_id text, scope text, key text, resource_id uuid) RETURNS void
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  update collab.idempotency_keys i
     set resource_id = _remember_idempotency_key.resource_id
   where i.executor_id = _remember_idempotency_key.executor_id and i.scope = _remember_idempotency_key.scope
     and i.key = _remember_idempotency_key.key;
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

CREATE FUNCTION collab._require_visible_run(run_id uuid) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  if not exists (select 1 from collab.workflow_runs r where r.id = _require_visible_run.run_id) then
    perform collab._raise('CL404', format('run %s not found', run_id));
  end if;
end
$$;

CREATE FUNCTION collab._require_visible_workflow(workflow_id uuid) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  if not exists (select 1 from collab.workflows w where w.id = _require_visible_workflow.workflow_id) then
    perform collab._raise('CL404', format('workflow %s not found', workflow_id));
  end if;
end
$$;

CREATE FUNCTION collab._retention_policy(of_executor text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  p collab.retention_policies;
  is_default boolean := false;
begin
  select * into p from collab.retention_policies r where r.executor_id = of_executor;
  if not found then
    p := row(of_executor, 86400, 604800, 86400, 604800, true, null)::collab.retention_policies;
    is_default := true;
  end if;
  return jsonb_build_object(
    'executorId', of_executor, 'succeededSeconds', p.succeeded_seconds, 'failedSeconds', p.failed_seconds,
    'cancelledSeconds', p.cancelled_seconds, 'deadLetterSeconds', p.dead_letter_seconds,
    'enabled', p.enabled, 'isDefault', is_default, 'updatedAt', p.updated_at);
end
$$;

CREATE FUNCTION collab._retry_backoff_seconds(attempt integer) RETURNS double precision
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  select least(3600.0, 5.0 * power(2.0, greatest(attempt, 1) - 1)) * (0.75 + 0.25 * random())
$$;

CREATE FUNCTION collab._run_event(r collab.workflow_runs, event_type text, payload jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
  values (r.id, r.executor_id, event_type,
          jsonb_build_object('run_id', r.id, 'workflow_id', r.workflow_id) || coalesce(payload, '{}'::jsonb), r.id);
end
$$;

CREATE FUNCTION collab._set_run_status(run_id uuid, status text, error text DEFAULT NULL::text) RETURNS collab.workflow_runs
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  before text;
  ended boolean := status in ('succeeded', 'failed', 'cancelled');
  r collab.workflow_runs;
begin
  select x.status into before from collab.workflow_runs x where x.id = _set_run_status.run_id;
  update collab.workflow_runs u
     set status = _set_run_status.status,
         error = case when _set_run_status.status in ('failed', 'cancelled') then left(_set_run_status.error, 16384) end,
         context = case when ended then collab_private._run_context(u.id) else u.context end,
         started_at = coalesce(u.started_at, now()),
         completed_at = case when ended then now() end,
         updated_at = now()
   where u.id = _set_run_status.run_id
  returning u.* into r;
  if before is distinct from status then
    perform collab._run_event(r, 'run_' || status,
      jsonb_strip_nulls(jsonb_build_object('previous_status', before, 'error', left(r.error, 2000))));
  end if;
  return r;
end
$$;

CREATE FUNCTION collab._start_run(w collab.workflows, input jsonb, idempotency_key text, trigger_type text, schedule_id uuid DEFAULT NULL::uuid) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  r collab.workflow_runs;
begin
  if w.status <> 'published' then
    perform collab._raise('CL412', format('cannot start workflow %s: it is %s (only published workflows run)',
                                          w.id, w.status));
  end if;
  insert into collab.workflow_runs as x (workflow_id, workflow_version, executor_id, trigger_type, input,
                                         idempotency_key, schedule_id)
  values (w.id, w.version, w.executor_id, _start_run.trigger_type, _start_run.input,
          _start_run.idempotency_key, _start_run.schedule_id)
  on conflict (workflow_id, idempotency_key) where idempotency_key is not null do nothing
  returning x.* into r;
  if not found then
    -- The key names a run already (perhaps committed a moment ago by a concurrent start):
    -- this statement's snapshot sees it.
    select * into r from collab.workflow_runs x
     where x.workflow_id = w.id and x.idempotency_key = _start_run.idempotency_key;
    if r.input is distinct from _start_run.input then
      perform collab._raise('CL409', format(
        'idempotency_key %s was already used for run %s of workflow %s with a different input',
        quote_literal(_start_run.idempotency_key), r.id, w.id));
    end if;
    return jsonb_build_object('run', to_jsonb(collab_private._live_run(r)), 'created', false);
  end if;

  insert into collab.workflow_step_runs (run_id, step_id, executor_id, type, kind, position, predecessors,
                                         config, max_attempts)
  select r.id, n.v ->> 'id', w.executor_id, n.v ->> 'type',
         coalesce((select s.kind from collab.step_types s
                    where s.name = n.v ->> 'type' and s.executor_id in ('*', w.executor_id)
                    order by s.executor_id = '*' desc limit 1), 'job'),
         n.ord - 1,
         coalesce((select array_agg(distinct e.v ->> 'source')
                     from jsonb_array_elements(coalesce(nullif(w.definition -> 'edges', 'null'::jsonb), '[]'::jsonb)) as e (v)
                    where e.v ->> 'target' = n.v ->> 'id'), '{}'),
         case when jsonb_typeof(n.v -> 'data' -> 'config') = 'object' then n.v -> 'data' -> 'config'
              when jsonb_typeof(n.v -> 'data') = 'object' then n.v -> 'data'
              else '{}'::jsonb end,
         coalesce((n.v -> 'data' ->> 'max_attempts')::integer, 3)
    from jsonb_array_elements(w.definition -> 'nodes') with ordinality as n (v, ord);

  perform collab._run_event(r, 'run_pending', jsonb_build_object(
    'workflow_version', r.workflow_version, 'trigger_type', r.trigger_type,
    'idempotency_key', r.idempotency_key,
    'steps', (select jsonb_object_agg(s.step_id, s.type) from collab.workflow_step_runs s where s.run_id = r.id)));
  perform collab._advance_run(r.id);
  select * into r from collab.workflow_runs x where x.id = r.id;
  return jsonb_build_object('run', to_jsonb(collab_private._live_run(r)), 'created', true);
end
$$;

CREATE FUNCTION collab._stop_run(run_id uuid, status text, error text) RETURNS collab.workflow_runs
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  r collab.workflow_runs;
  job_ids uuid[];
  failed boolean := status = 'failed';
  reason text := case when status = 'cancelled' then 'cancelled: the run was cancelled'
                      else 'cancelled: the run failed' end;
  skip_reason text := 'skipped: the run failed' || coalesce(' (' || left(error, 2000) || ')', '');
begin
  -- Waits for the claims of this run's step jobs in flight (see _jobs_workflow_claimed).
  perform collab_private._lock_run_claims(_stop_run.run_id, true);
  select * into r from collab.workflow_runs x where x.id = _stop_run.run_id;
  with stopped as (
    update collab.workflow_step_runs s
       set status = case when s.status = 'pending' and failed then 'skipped' else 'cancelled' end,
           error = case when s.status = 'pending' and failed then skip_reason else reason end,
           completed_at = now(), updated_at = now()
     where s.run_id = r.id
       and s.status in ('queued', 'running', 'waiting', 'pending')
    returning s.step_id, s.job_id, s.status, s.error
  ), logged as (
    insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
    select r.id, r.executor_id, 'step_' || t.status,
           jsonb_strip_nulls(jsonb_build_object('run_id', r.id, 'step_id', t.step_id, 'job_id', t.job_id,
                                                'error', t.error)), r.id
      from stopped t order by t.step_id
  )
  select array_agg(t.job_id) filter (where t.job_id is not null) into job_ids from stopped t;
  if job_ids is not null then
    update collab.jobs j
       set status = 'cancelled', finished_at = now(), updated_at = now(),
           last_error = format('%s (run %s)', reason, r.id)
     where j.id = any (array(select q.id from collab.jobs q
                              where q.id = any (job_ids) and q.status in ('queued', 'running')
                                for update skip locked));
  end if;
  return collab._set_run_status(r.id, status, error);
end
$$;

CREATE FUNCTION collab._store_webhook_secret(workflow_id uuid, executor_id text, secret text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $_$
declare
  fingerprint text := left(encode(sha256(convert_to(secret, 'UTF8')), 'hex'), 16);
  vault_id uuid;
  sealed bytea;
  cipher text;
begin
  select x.vault_secret_id into vault_id from collab.workflow_webhook_secrets x
   where x.workflow_id = _store_webhook_secret.workflow_id for update;
  if vault_id is not null then
    execute 'select vault.update_secret($1, $2)' using vault_id, secret;
  elsif collab_private._vault_present() then
    execute 'select vault.create_secret($1, $2, $3)' into vault_id
      using secret, 'collab.webhook.' || workflow_id || '.' || gen_random_uuid(),
            format('collab webhook secret of workflow %s', workflow_id);
  else
    cipher := case when exists (select 1 from pg_catalog.pg_extension where extname = 'pgcrypto')
                   then 'pgp' else 'hmac-ctr' end;
    sealed := collab_private._webhook_cipher(true, convert_to(secret, 'UTF8'), cipher);
  end if;
  insert into collab.workflow_webhook_secrets as x (workflow_id, executor_id, vault_secret_id, secret_encrypted,
                                                    cipher, fingerprint)
  values (_store_webhook_secret.workflow_id, _store_webhook_secret.executor_id, vault_id, sealed, cipher,
          fingerprint)
  on conflict on constraint workflow_webhook_secrets_pkey do update
     set vault_secret_id = excluded.vault_secret_id, secret_encrypted = excluded.secret_encrypted,
         cipher = excluded.cipher, fingerprint = excluded.fingerprint, created_at = now();
end
$_$;

CREATE FUNCTION collab._webhook_secret(workflow_id uuid) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $_$
declare
  x collab.workflow_webhook_secrets;
  clear text;
begin
  select * into x from collab.workflow_webhook_secrets s where s.workflow_id = _webhook_secret.workflow_id;
  if not found then
    return null;
  end if;
  if x.vault_secret_id is not null then
    execute 'select decrypted_secret from vault.decrypted_secrets where id = $1' into clear using x.vault_secret_id;
    return clear;
  end if;
  return convert_from(collab_private._webhook_cipher(false, x.secret_encrypted, x.cipher), 'UTF8');
end
$_$;

CREATE FUNCTION collab._webhook_secrets_after_delete() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $_$
begin
  if old.vault_secret_id is not null then
    execute 'delete from vault.secrets where id = $1' using old.vault_secret_id;
  end if;
  return null;
end
$_$;

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

CREATE FUNCTION collab.ack_storage_deletions_v1(ids bigint[]) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  n integer;
  e text;
begin
  if cardinality(ids) > 1000 then
    perform collab._raise('CL400', 'at most 1000 ids');
  end if;
  for e in select distinct d.executor_id from collab.storage_deletions d where d.id = any (ids) loop
    perform collab._require_member(e, '{worker,admin}');
  end loop;
  delete from collab.storage_deletions d where d.id = any (ids);
  get diagnostics n = row_count;
  return n;
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
    xact_id xid8 DEFAULT pg_current_xact_id() NOT NULL,
    run_id uuid
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

CREATE FUNCTION collab.apply_retention_v1(executor_id text, worker_id text, batch_size integer DEFAULT 1000, lease_seconds integer DEFAULT 60, interval_seconds integer DEFAULT 60) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  s collab.retention_state;
  policy jsonb;
  batch jsonb := jsonb_build_object('purged', 0, 'events', 0);
  n_dead integer := 0;
  finished boolean := false;
  skipped constant jsonb := jsonb_build_object('ran', false, 'purged', 0, 'events', 0, 'deadLetters', 0,
                                              'done', true);
begin
  perform collab._check_name('executor_id', executor_id);
  perform collab._check_name('worker_id', worker_id);
  perform collab._check_range('batch_size', batch_size, 1, 10000);
  perform collab._check_range('lease_seconds', lease_seconds, 1, 3600);
  perform collab._check_range('interval_seconds', interval_seconds, 1, 86400);
  perform collab._require_member(executor_id, '{worker,admin}');
  insert into collab.retention_state (executor_id) values (apply_retention_v1.executor_id)
  on conflict on constraint retention_state_pkey do nothing;
  -- A caller in the middle of a batch holds the row: skip it, never wait for it. The
  -- pass's own lease holder does wait: another caller holds the row only to see the lease
  -- is taken, and skipping then would end the pass until the lease expired.
  if exists (select 1 from collab.retention_state r where r.executor_id = apply_retention_v1.executor_id
                and r.lease_owner = apply_retention_v1.worker_id) then
    select * into s from collab.retention_state r where r.executor_id = apply_retention_v1.executor_id
       for update;
  else
    select * into s from collab.retention_state r where r.executor_id = apply_retention_v1.executor_id
       for update skip locked;
  end if;
  if not found then
    return skipped;
  end if;
  if not (coalesce(s.lease_owner = worker_id and s.lease_until >= now(), false)
          or (coalesce(s.lease_until < now(), true) and s.next_run_at <= now())) then
    return skipped;
  end if;
  policy := collab._retention_policy(executor_id);
  if not (policy ->> 'enabled')::boolean then
    update collab.retention_state r
       set lease_owner = null, lease_until = null, cursor = null,
           next_run_at = now() + make_interval(secs => interval_seconds)
     where r.executor_id = s.executor_id;
    return skipped;
  end if;
  if s.lease_until is null then  -- a new pass (else: this caller's, or a dead caller's, goes on)
    s.last_started_at := now();
    s.last_purged := 0;
    s.cursor := null;
  end if;
  if s.cursor is distinct from '"dead-letters"'::jsonb then
    batch := collab._purge_jobs_batch(
      executor_id,
      now() - make_interval(secs => (policy ->> 'succeededSeconds')::integer),
      now() - make_interval(secs => (policy ->> 'failedSeconds')::integer),
      now() - make_interval(secs => (policy ->> 'cancelledSeconds')::integer),
      batch_size, s.cursor);
    s.cursor := case when (batch ->> 'done')::boolean then '"dead-letters"'::jsonb else batch -> 'cursor' end;
  else
    n_dead := collab._purge_dead_letters_batch(
      executor_id, now() - make_interval(secs => (policy ->> 'deadLetterSeconds')::integer), batch_size);
    finished := n_dead < batch_size;
  end if;
  update collab.retention_state r
     set lease_owner = case when finished then null else worker_id end,
         lease_until = case when finished then null else now() + make_interval(secs => lease_seconds) end,
         cursor = case when finished then null else s.cursor end,
         next_run_at = case when finished then now() + make_interval(secs => interval_seconds)
                            else s.next_run_at end,
         last_started_at = s.last_started_at,
         last_finished_at = case when finished then now() else s.last_finished_at end,
         last_purged = s.last_purged + (batch ->> 'purged')::integer + n_dead
   where r.executor_id = s.executor_id;
  return jsonb_build_object('ran', true, 'purged', (batch ->> 'purged')::integer,
                            'events', (batch ->> 'events')::integer, 'deadLetters', n_dead, 'done', finished);
end
$$;

CREATE FUNCTION collab.archive_workflow_v1(workflow_id uuid) RETURNS SETOF collab.workflows
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  w collab.workflows;
begin
  w := collab._lock_workflow(workflow_id, '{client,admin}');
  if w.status = 'archived' then
    return next w;
    return;
  end if;
  return query
    update collab.workflows u set status = 'archived', updated_at = now()
     where u.id = w.id
    returning u.*;
end
$$;

CREATE FUNCTION collab.artifacts_by_job_v1(job_id uuid) RETURNS SETOF collab.artifacts
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  perform collab_private._require_visible_job(job_id);
  return query
    select * from collab.artifacts a
     where a.job_id = artifacts_by_job_v1.job_id
     order by a.created_at, a.id;
end
$$;

CREATE FUNCTION collab.assign_job_v1(type text, executor_id text, payload jsonb DEFAULT '{}'::jsonb, idempotency_key text DEFAULT NULL::text, priority integer DEFAULT 0, max_attempts integer DEFAULT 3, run_at timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS TABLE(job_id uuid, queued boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $_$
#variable_conflict use_column
declare
  body jsonb := coalesce(nullif(payload, 'null'::jsonb), '{}'::jsonb);
  msg text;
  seed text;
  new_id uuid;
  old record;
begin
  -- assign_jobs_v1's checks of one element, in its order and with its messages.
  msg := case
    when type is null or type !~ '^[A-Za-z0-9][A-Za-z0-9_.:@/+-]*$' or char_length(type) > 200
      then 'type must be 1-200 characters: letters, digits and _ . : @ / + -'
    when executor_id is null or executor_id !~ '^[A-Za-z0-9][A-Za-z0-9_.:@/+-]*$'
         or char_length(executor_id) > 200
      then 'executor_id must be 1-200 characters: letters, digits and _ . : @ / + -'
    when jsonb_typeof(body) <> 'object' then 'payload must be a JSON object'
    when char_length(idempotency_key) not between 1 and 255
      then 'idempotency_key must be a string of 1-255 characters'
    when priority not between -32768 and 32767
      then 'priority must be an integer between -32768 and 32767'
    when max_attempts not between 1 and 1000
      then 'max_attempts must be an integer between 1 and 1000'
  end;
  if msg is not null then
    perform collab._raise('CL400', 'jobs[0]: ' || msg);
  end if;
  if octet_length(body::text) > 1048576 then
    perform collab._raise('CL413', 'jobs[0]: payload is larger than 1048576 bytes');
  end if;
  if run_at > now() + interval '366 days' or run_at < '2000-01-01'::timestamptz then
    perform collab._raise('CL400', 'jobs[0]: run_at must be between 2000-01-01 and one year from now');
  end if;
  if not collab._caller_is_trusted() then
    perform collab._require_member(executor_id, '{client,worker,admin}');
  end if;

  seed := encode(uuid_send(gen_random_uuid()), 'hex');
  new_id := (lpad(to_hex(floor(extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0')
             || '7' || substr(seed, 1, 3) || to_hex(('x' || substr(seed, 17, 16))::bit(64)::bigint
                                                   | -9223372036854775808))::uuid;
  if idempotency_key is null then
    insert into collab.jobs (id, type, executor_id, payload, priority, max_attempts, next_run_at)
    values (new_id, type, executor_id, body, coalesce(priority, 0), coalesce(max_attempts, 3),
            coalesce(run_at, now()));
    return query select new_id, true;
    return;
  end if;
  insert into collab.jobs (id, type, executor_id, payload, idempotency_key, priority,
                           max_attempts, next_run_at)
  values (new_id, type, executor_id, body, idempotency_key, coalesce(priority, 0),
          coalesce(max_attempts, 3), coalesce(run_at, now()))
  on conflict (executor_id, idempotency_key) where idempotency_key is not null do nothing;
  if found then
    return query select new_id, true;
    return;
  end if;
  select j.id, j.type, j.payload into old from collab.jobs j
   where j.executor_id = assign_job_v1.executor_id and j.idempotency_key = assign_job_v1.idempotency_key;
  if old.type <> type or old.payload <> body then
    perform collab._raise('CL409', 'jobs[0]: idempotency_key was already used for a job with a different type or payload');
  end if;
  return query select old.id, false;
end
$_$;

CREATE FUNCTION collab.assign_job_v2(type text, executor_id text, payload jsonb DEFAULT '{}'::jsonb, idempotency_key text DEFAULT NULL::text, priority integer DEFAULT 0, max_attempts integer DEFAULT 3, run_at timestamp with time zone DEFAULT NULL::timestamp with time zone, trace_context jsonb DEFAULT NULL::jsonb) RETURNS TABLE(job_id uuid, queued boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return query
  select a.job_id, a.queued from collab.assign_jobs_v2(jsonb_build_array(jsonb_build_object(
    'type', assign_job_v2.type, 'executor_id', assign_job_v2.executor_id,
    'payload', assign_job_v2.payload, 'idempotency_key', assign_job_v2.idempotency_key,
    'priority', assign_job_v2.priority, 'max_attempts', assign_job_v2.max_attempts,
    'run_at', assign_job_v2.run_at, 'trace_context', assign_job_v2.trace_context))) a;
end
$$;

COMMENT ON FUNCTION collab.assign_job_v2(type text, executor_id text, payload jsonb, idempotency_key text, priority integer, max_attempts integer, run_at timestamp with time zone, trace_context jsonb) IS 'assign_job_v1 with trace_context (a JSON object of strings), stored on the job if this call inserts it';

CREATE FUNCTION collab.assign_jobs_v1(jobs jsonb) RETURNS TABLE(job_id uuid, queued boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $_$
declare
  n integer;
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
  if n > 10000 then
    perform collab._check_range('number of jobs', n, 0, 10000);
  end if;
  if n = 0 then
    return;
  end if;

  -- Validate every element; report the first bad one by its index.
  select t.ord, t.msg,
         case when t.msg = 'payload is larger than 1048576 bytes' then 'CL413' else 'CL400' end as code
    into bad
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
      end as msg
      from jsonb_array_elements(jobs) with ordinality as e (j, ord)
    ) t
   where t.msg is not null
   order by t.ord
   limit 1;
  if found then
    perform collab._raise(bad.code, format('jobs[%s]: %s', bad.ord - 1, bad.msg));
  end if;

  -- run_at: parse (and bound) separately, so a malformed date gets a clear message. The
  -- block is a subtransaction: entered only when some element has a run_at.
  if jsonb_path_exists(jobs, '$[*].run_at ? (@ != null)') then
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
  end if;

  if not collab._caller_is_trusted() then
    for exec in select distinct e ->> 'executor_id' from jsonb_array_elements(jobs) e loop
      perform collab._require_member(exec, '{client,worker,admin}');
    end loop;
  end if;

  -- Ids: UUID version 7, 48 bits of Unix milliseconds, the version, 12 random bits, the
  -- variant, and 62 random bits counted up along the batch (RFC 9562, monotonic random):
  -- element ord (1-based) gets base + ord. base is drawn below 2^62 - 10001, so the count
  -- never wraps in a batch and the ids ascend in input order.
  seed := encode(uuid_send(gen_random_uuid()), 'hex');
  prefix := lpad(to_hex(floor(extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0')
            || '7' || substr(seed, 1, 3);
  base := (('x' || substr(seed, 17, 16))::bit(64)::bigint & 4611686018427387903) % 4611686018427377902;

  if not jsonb_path_exists(jobs, '$[*].idempotency_key ? (@ != null)') then
    -- No keys: nothing can conflict, so a plain insert (no speculative insertion).
    return query
      with ins as (
        insert into collab.jobs (id, type, executor_id, payload, priority, max_attempts, next_run_at)
        select (prefix || to_hex((base + e.ord) | -9223372036854775808))::uuid,
               e.j ->> 'type', e.j ->> 'executor_id',
               coalesce(nullif(e.j -> 'payload', 'null'::jsonb), '{}'::jsonb),
               coalesce((e.j ->> 'priority')::integer, 0),
               coalesce((e.j ->> 'max_attempts')::integer, 3),
               coalesce((e.j ->> 'run_at')::timestamptz, now())
          from jsonb_array_elements(jobs) with ordinality as e (j, ord)
         order by e.ord
        returning id
      )
      select ins.id, true from ins order by ins.id;
    return;
  end if;

  with ins as (
    insert into collab.jobs (id, type, executor_id, payload, idempotency_key, priority,
                             max_attempts, next_run_at)
    select (prefix || to_hex((base + e.ord) | -9223372036854775808))::uuid,
           e.j ->> 'type', e.j ->> 'executor_id',
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
  select array_agg(id order by id) into inserted from ins;

  if cardinality(inserted) = n then
    return query select u.id, true from unnest(inserted) as u (id);
    return;
  end if;

  -- Some keys existed (or repeat within the batch): answer with the existing jobs,
  -- read with a fresh snapshot so concurrent winners are visible.
  -- Each existing job is read by one probe of jobs_idempotency_idx (a correlated
  -- subquery / LATERAL ... LIMIT 1: never a join the planner could hash over every key).
  return query
    select coalesce(ins.id, (select old.id from collab.jobs old
                              where old.executor_id = e.j ->> 'executor_id'
                                and old.idempotency_key = e.j ->> 'idempotency_key')),
           ins.id is not null
      from jsonb_array_elements(jobs) with ordinality as e (j, ord)
      left join unnest(inserted) as ins (id)
             on ins.id = (prefix || to_hex((base + e.ord) | -9223372036854775808))::uuid
     order by e.ord;

  select e.ord into bad
    from jsonb_array_elements(jobs) with ordinality as e (j, ord)
    cross join lateral (
      select old.type, old.payload from collab.jobs old
       where old.executor_id = e.j ->> 'executor_id'
         and old.idempotency_key = e.j ->> 'idempotency_key'
       limit 1) old
   where e.j ->> 'idempotency_key' is not null
     and (old.type <> e.j ->> 'type'
          or old.payload <> coalesce(nullif(e.j -> 'payload', 'null'::jsonb), '{}'::jsonb))
   order by e.ord limit 1;
  if found then
    perform collab._raise('CL409', format(
      'jobs[%s]: idempotency_key was already used for a job with a different type or payload',
      bad.ord - 1));
  end if;
end
$_$;

CREATE FUNCTION collab.assign_jobs_v2(jobs jsonb) RETURNS TABLE(job_id uuid, queued boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  bad integer;
  ids uuid[];
  queued_flags boolean[];
begin
  if jsonb_typeof(jobs) = 'array' then
    select e.ord into bad
      from jsonb_array_elements(jobs) with ordinality as e (j, ord)
     where jsonb_typeof(e.j) = 'object'
       and jsonb_typeof(e.j -> 'trace_context') <> 'null'  -- absent or null: none
       and (jsonb_typeof(e.j -> 'trace_context') <> 'object'
            or octet_length((e.j -> 'trace_context')::text) > 4096
            or exists (select 1 from jsonb_each(e.j -> 'trace_context') f
                        where jsonb_typeof(f.value) <> 'string'))
     order by e.ord limit 1;
    if found then
      perform collab._raise('CL400', format(
        'jobs[%s]: trace_context must be a JSON object of strings, at most 4096 bytes', bad - 1));
    end if;
  end if;

  -- Two statements: the UPDATE must see the rows v1 inserted (one statement's parts
  -- share one snapshot).
  select array_agg(a.job_id order by a.ord), array_agg(a.queued order by a.ord)
    into ids, queued_flags
    from collab.assign_jobs_v1(jobs) with ordinality as a (job_id, queued, ord);
  update collab.jobs j
     set trace_context = jobs -> (o.ord::integer - 1) -> 'trace_context'
    from unnest(ids, queued_flags) with ordinality as o (id, queued, ord)
   where j.id = o.id and o.queued
     and jsonb_typeof(jobs -> (o.ord::integer - 1) -> 'trace_context') = 'object';
  return query
    select o.id, o.queued from unnest(ids, queued_flags) with ordinality as o (id, queued, ord)
     order by o.ord;
end
$$;

COMMENT ON FUNCTION collab.assign_jobs_v2(jobs jsonb) IS 'assign_jobs_v1 whose elements may carry trace_context (a JSON object of strings), stored on the jobs it inserts';

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

CREATE FUNCTION collab.cancel_run_v1(run_id uuid, reason text DEFAULT NULL::text) RETURNS SETOF collab.workflow_runs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  r collab.workflow_runs;
begin
  r := collab._lock_run(run_id, '{client,worker,admin}', '{pending,running,paused}', 'cancel');
  return next collab._stop_run(r.id, 'cancelled', coalesce(left(reason, 16384), 'cancelled'));
end
$$;

CREATE FUNCTION collab.claim_jobs_v1(executor_id text, worker_id text, lease_seconds integer DEFAULT 60, max_jobs integer DEFAULT 10, type_prefixes text[] DEFAULT NULL::text[], types text[] DEFAULT NULL::text[]) RETURNS SETOF collab.jobs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
begin
  return query
  select * from collab.claim_jobs_v2(
    executor_id => claim_jobs_v1.executor_id, worker_id => claim_jobs_v1.worker_id,
    lease_seconds => claim_jobs_v1.lease_seconds, max_jobs => claim_jobs_v1.max_jobs,
    type_prefixes => claim_jobs_v1.type_prefixes, types => claim_jobs_v1.types, alone => null);
end
$$;

CREATE FUNCTION collab.claim_jobs_v2(executor_id text, worker_id text, lease_seconds integer DEFAULT 60, max_jobs integer DEFAULT 10, type_prefixes text[] DEFAULT NULL::text[], types text[] DEFAULT NULL::text[], alone boolean DEFAULT false) RETURNS SETOF collab.jobs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    SET plan_cache_mode TO 'force_generic_plan'
    SET enable_sort TO 'off'
    SET jit TO 'off'
    AS $$
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

CREATE FUNCTION collab.claim_one_job_v3(executor_id text, worker_id text, lease_seconds integer DEFAULT 60, type_prefix text DEFAULT NULL::text) RETURNS SETOF collab.jobs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return query
  select * from collab.claim_jobs_v2(
    executor_id => claim_one_job_v3.executor_id, worker_id => claim_one_job_v3.worker_id,
    lease_seconds => claim_one_job_v3.lease_seconds, max_jobs => 1,
    type_prefixes => case when claim_one_job_v3.type_prefix is null then null
                          else array[claim_one_job_v3.type_prefix] end,
    alone => null);
end
$$;

CREATE FUNCTION collab.complete_and_claim_jobs_v1(executor_id text, worker_id text, completions jsonb DEFAULT '[]'::jsonb, max_jobs integer DEFAULT 10, lease_seconds integer DEFAULT 60, type_prefixes text[] DEFAULT NULL::text[], types text[] DEFAULT NULL::text[], alone boolean DEFAULT false) RETURNS json
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  done uuid[];
  lost json := '[]';
  jobs json := '[]';
begin
  if completions is distinct from '[]'::jsonb then
    done := array(select d.id from collab.complete_jobs_v1(
                    worker_id => complete_and_claim_jobs_v1.worker_id,
                    completions => complete_and_claim_jobs_v1.completions) d);
    if cardinality(done) < jsonb_array_length(completions) then
      select coalesce(json_agg(c.v -> 'job_id'), '[]') into lost
        from jsonb_array_elements(completions) as c (v)
       where (c.v ->> 'job_id')::uuid <> all (done);
    end if;
  end if;
  if max_jobs is distinct from 0 then  -- claim_jobs_v2 checks the range (1 to 1000)
    -- json_agg reads the function's rows in the order it returned them: claim order.
    select coalesce(json_agg(c), '[]') into jobs
      from collab.claim_jobs_v2(
             executor_id => complete_and_claim_jobs_v1.executor_id,
             worker_id => complete_and_claim_jobs_v1.worker_id,
             lease_seconds => complete_and_claim_jobs_v1.lease_seconds,
             max_jobs => complete_and_claim_jobs_v1.max_jobs,
             type_prefixes => complete_and_claim_jobs_v1.type_prefixes,
             types => complete_and_claim_jobs_v1.types,
             alone => complete_and_claim_jobs_v1.alone) c;
  end if;
  return json_build_object('lost', lost, 'jobs', jobs);
end
$$;

CREATE FUNCTION collab.complete_and_claim_v1(job_id uuid, worker_id text, executor_id text, result jsonb DEFAULT NULL::jsonb, artifacts jsonb DEFAULT '[]'::jsonb, attempt integer DEFAULT NULL::integer, lease_seconds integer DEFAULT 60, type_prefix text DEFAULT NULL::text) RETURNS SETOF collab.jobs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    SET plan_cache_mode TO 'force_generic_plan'
    SET enable_sort TO 'off'
    SET jit TO 'off'
    AS $_$
  declare
    trusted boolean;
    completed boolean;
    next_jobs collab.jobs[];
  begin
    -- The fast path's preconditions: every check complete_job_v1 and claim_jobs_v2 make
    -- before writing, passed (the slow path below raises each failure as they do).
    if job_id is not null
       and worker_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:@/+-]*$' and char_length(worker_id) <= 200
       and executor_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:@/+-]*$' and char_length(executor_id) <= 200
       and lease_seconds between 1 and 86400
       and (result is null or octet_length(result::text) <= 1048576)
       and (artifacts is null or artifacts = '[]'::jsonb) then
      trusted := collab._caller_is_trusted();
      if (trusted or exists (select 1 from collab.executor_members m
                              where m.executor_id = complete_and_claim_v1.executor_id
                                and m.user_id = auth.uid() and m.role in ('worker', 'admin')))
         -- claim_jobs_v2's dead-letter pass has work: leave it to claim_jobs_v2
         and not exists (select 1 from collab.jobs r
                          where r.executor_id = complete_and_claim_v1.executor_id
                            and r.lease_until < now() and r.attempts >= r.max_attempts
                            and r.attempts - r.forgiven_attempts
                                - (r.solo is false and r.forgiven_attempts = 0)::integer >= r.max_attempts) then
        with target as materialized (
          select t.id, t.executor_id, t.status, t.lease_owner, t.next_run_at, t.attempts,
                 t.workflow_run_id
            from collab.jobs t where t.id = complete_and_claim_v1.job_id
             for update
        ), fenced as materialized (
          select t.id from target t
           where t.workflow_run_id is null  -- a step's successors: see the migration's header
             and t.status = 'running' and t.lease_owner = complete_and_claim_v1.worker_id
             and t.next_run_at >= now()
             and (complete_and_claim_v1.attempt is null or t.attempts = complete_and_claim_v1.attempt)
             and (trusted or exists (select 1 from collab.executor_members m
                                      where m.executor_id = t.executor_id and m.user_id = auth.uid()
                                        and m.role in ('worker', 'admin')))
        ), picked as materialized (
          select j.id from collab.jobs j
           where exists (select 1 from fenced)
             and j.executor_id = complete_and_claim_v1.executor_id
             and j.status in ('queued', 'running')
             and j.next_run_at <= now()
             and j.id <> complete_and_claim_v1.job_id
             and (j.status = 'queued'
                  or j.attempts - j.forgiven_attempts
                     - (j.solo is false and j.forgiven_attempts = 0)::integer < j.max_attempts)
             and (complete_and_claim_v1.type_prefix is null
                  or starts_with(j.type, complete_and_claim_v1.type_prefix))
           order by j.priority desc, j.next_run_at, j.id
           limit 1
           for update skip locked
        ), written as (
          update collab.jobs u
             set status = case when s.done then 'succeeded' else 'running' end,
                 result = case when s.done then complete_and_claim_v1.result else u.result end,
                 finished_at = case when s.done then now() else u.finished_at end,
                 updated_at = now(),
                 attempts = u.attempts + (not s.done)::integer,
                 lease_owner = case when s.done then u.lease_owner else complete_and_claim_v1.worker_id end,
                 next_run_at = case when s.done then u.next_run_at
                                    else now() + make_interval(secs => complete_and_claim_v1.lease_seconds) end,
                 started_at = case when s.done then u.started_at else now() end,
                 rescues = u.rescues + (not s.done and u.status = 'running')::integer,
                 forgiven_attempts = u.forgiven_attempts
                   + (not s.done and u.status = 'running' and u.solo is false and u.forgiven_attempts = 0)::integer,
                 solo = case when s.done then u.solo end,
                 last_error = case
                   when s.done then u.last_error
                   when u.status = 'running' and u.solo is false and u.forgiven_attempts = 0
                     then format('lease of worker %s expired (attempt not counted: other jobs ran beside it)',
                                 u.lease_owner)
                   when u.status = 'running' then format('lease of worker %s expired', u.lease_owner)
                   else u.last_error end
            from (select f.id, true as done from fenced f
                  union all
                  select p.id, false from picked p) s
           where u.id = s.id
          returning u, s.done
        )
        select bool_or(w.done), array_agg(w.u) filter (where not w.done)
          into completed, next_jobs
          from written w;
        if completed then
          return query select * from unnest(next_jobs);
          return;
        end if;
      end if;
    end if;

    -- Everything else, as before: the complete (a replay, an error), then the claim.
    perform collab.complete_job_v1(job_id => complete_and_claim_v1.job_id,
                                   worker_id => complete_and_claim_v1.worker_id,
                                   result => complete_and_claim_v1.result,
                                   artifacts => complete_and_claim_v1.artifacts,
                                   attempt => complete_and_claim_v1.attempt);
    return query
    select * from collab.claim_jobs_v2(
      executor_id => complete_and_claim_v1.executor_id,
      worker_id => complete_and_claim_v1.worker_id,
      lease_seconds => complete_and_claim_v1.lease_seconds, max_jobs => 1,
      type_prefixes => case when complete_and_claim_v1.type_prefix is null then null
                            else array[complete_and_claim_v1.type_prefix] end,
      alone => null);
  end
  $_$;

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

CREATE FUNCTION collab.create_schedule_v1(workflow_id uuid, cron text, timezone text DEFAULT 'UTC'::text, input jsonb DEFAULT '{}'::jsonb, enabled boolean DEFAULT true) RETURNS SETOF collab.workflow_schedules
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  w collab.workflows;
  first_tick timestamptz;
begin
  w := collab._lock_workflow(workflow_id, '{client,admin}');
  first_tick := collab._cron_next(cron, coalesce(timezone, 'UTC'), now());
  perform collab._check_run_input(w, coalesce(input, '{}'::jsonb));
  return query
    insert into collab.workflow_schedules (workflow_id, executor_id, cron, timezone, input, enabled, next_fire_at)
    values (w.id, w.executor_id, btrim(cron), coalesce(timezone, 'UTC'), coalesce(input, '{}'::jsonb),
            coalesce(enabled, true), first_tick)
    returning *;
end
$$;

CREATE FUNCTION collab.create_schedule_v2(workflow_id uuid, cron text, timezone text DEFAULT 'UTC'::text, input jsonb DEFAULT '{}'::jsonb, enabled boolean DEFAULT true, idempotency_key text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  made uuid;
  w collab.workflows;
  s collab.workflow_schedules;
begin
  w := collab._lock_workflow(workflow_id, '{client,admin}');
  if idempotency_key is not null then
    made := collab._claim_idempotency_key(w.executor_id, 'schedule', idempotency_key, md5(jsonb_build_object(
      'workflow_id', w.id, 'cron', cron, 'timezone', coalesce(timezone, 'UTC'),
      'input', coalesce(input, '{}'::jsonb), 'enabled', coalesce(enabled, true))::text));
    select * into s from collab.workflow_schedules x where x.id = made;
    if found then
      return jsonb_build_object('schedule', to_jsonb(s), 'created', false);
    end if;
  end if;
  select * into strict s from collab.create_schedule_v1(workflow_id, cron, timezone, input, enabled);
  if idempotency_key is not null then
    perform collab._remember_idempotency_key(w.executor_id, 'schedule', idempotency_key, s.id);
  end if;
  return jsonb_build_object('schedule', to_jsonb(s), 'created', true);
end
$$;

CREATE FUNCTION collab.create_webhook_secret_v1(workflow_id uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  w collab.workflows;
  s text;
begin
  w := collab._lock_workflow(workflow_id, '{client,admin}');
  -- 32 bytes from two v4 UUIDs (244 bits of the server's strong random source).
  s := 'whsec_' || encode(sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())), 'hex');
  perform collab._store_webhook_secret(w.id, w.executor_id, s);
  return (select jsonb_build_object('workflow_id', x.workflow_id, 'secret', s,
                                    'fingerprint', x.fingerprint, 'created_at', x.created_at)
            from collab.workflow_webhook_secrets x where x.workflow_id = w.id);
end
$$;

CREATE FUNCTION collab.create_workflow_v1(executor_id text, name text, description text DEFAULT ''::text, definition jsonb DEFAULT '{"edges": [], "nodes": []}'::jsonb, input_schema jsonb DEFAULT NULL::jsonb) RETURNS SETOF collab.workflows
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform collab._check_name('executor_id', executor_id);
  if name is null then
    perform collab._raise('CL400', 'name is required');
  end if;
  perform collab._check_workflow_fields(name, description, definition, input_schema);
  perform collab._require_member(executor_id, '{client,admin}');
  return query
    insert into collab.workflows (executor_id, name, description, definition, input_schema)
    values (create_workflow_v1.executor_id, btrim(create_workflow_v1.name),
            coalesce(create_workflow_v1.description, ''),
            coalesce(create_workflow_v1.definition, '{"nodes": [], "edges": []}'::jsonb),
            nullif(create_workflow_v1.input_schema, 'null'::jsonb))
    returning *;
end
$$;

CREATE FUNCTION collab.create_workflow_v2(executor_id text, name text, description text DEFAULT ''::text, definition jsonb DEFAULT '{"edges": [], "nodes": []}'::jsonb, input_schema jsonb DEFAULT NULL::jsonb, idempotency_key text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  made uuid;
  w collab.workflows;
begin
  perform collab._check_name('executor_id', executor_id);
  perform collab._require_member(executor_id, '{client,admin}');
  if idempotency_key is not null then
    made := collab._claim_idempotency_key(executor_id, 'workflow', idempotency_key, md5(jsonb_build_object(
      'op', 'create', 'name', name, 'description', coalesce(description, ''),
      'definition', coalesce(definition, '{"nodes": [], "edges": []}'::jsonb),
      'input_schema', input_schema)::text));
    select * into w from collab.workflows x where x.id = made;
    if found then
      return jsonb_build_object('workflow', to_jsonb(w), 'created', false);
    end if;
  end if;
  select * into strict w from collab.create_workflow_v1(executor_id, name, description, definition, input_schema);
  if idempotency_key is not null then
    perform collab._remember_idempotency_key(executor_id, 'workflow', idempotency_key, w.id);
  end if;
  return jsonb_build_object('workflow', to_jsonb(w), 'created', true);
end
$$;

CREATE FUNCTION collab.cron_next_v1(cron text, timezone text DEFAULT 'UTC'::text, after timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS timestamp with time zone
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  return collab_private._cron_next(cron, coalesce(timezone, 'UTC'), coalesce(after, now()));
end
$$;

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

CREATE FUNCTION collab.delete_schedule_v1(schedule_id uuid) RETURNS SETOF collab.workflow_schedules
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  s collab.workflow_schedules;
begin
  s := collab._lock_schedule(schedule_id, '{client,admin}');
  delete from collab.workflow_schedules x where x.id = s.id;
  return next s;
end
$$;

CREATE FUNCTION collab.delete_webhook_secret_v1(workflow_id uuid) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  w collab.workflows;
begin
  w := collab._lock_workflow(delete_webhook_secret_v1.workflow_id, '{client,admin}');
  delete from collab.workflow_webhook_secrets x where x.workflow_id = w.id;
  return found;
end
$$;

CREATE FUNCTION collab.delete_workflow_v1(workflow_id uuid) RETURNS SETOF collab.workflows
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  w collab.workflows;
begin
  w := collab._lock_workflow(workflow_id, '{client,admin}', '{draft,archived}', 'delete');
  if exists (select 1 from collab.workflow_runs r where r.workflow_id = w.id) then
    perform collab._raise('CL412', format('cannot delete workflow %s: it has runs', w.id));
  end if;
  delete from collab.workflows d where d.id = w.id;
  return next w;
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
$$;

CREATE FUNCTION collab.dlq_retry_v1(dead_letter_id uuid) RETURNS TABLE(job_id uuid, queued boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  d collab.job_dead_letters;
  new_id uuid;
  job_alive boolean := false;
begin
  select * into d from collab.job_dead_letters where id = dead_letter_id;
  if not found or not collab._caller_can_see(d.executor_id) then
    perform collab._raise('CL404', format('dead letter %s not found', dead_letter_id));
  end if;
  perform collab._require_member(d.executor_id, '{client,worker,admin}');
  -- The job before the dead letter: the order a purge takes them in.
  if d.job_id is not null then
    perform 1 from collab.jobs j where j.id = d.job_id for key share;
    job_alive := found;
  end if;
  select * into d from collab.job_dead_letters where id = dead_letter_id for update;
  if not found then  -- deleted while we waited for the job
    perform collab._raise('CL404', format('dead letter %s not found', dead_letter_id));
  end if;
  if d.retried_at is not null then
    return query select d.retried_job_id, false;
    return;
  end if;
  insert into collab.jobs (type, executor_id, payload, priority, max_attempts)
  values (d.type, d.executor_id, d.payload, d.priority, d.max_attempts)
  returning id into new_id;
  update collab.job_dead_letters set retried_at = now(), retried_job_id = new_id where id = d.id;
  -- The original job does not change state; its log still records the retry, if the job
  -- is still there (the lock above keeps it until we commit).
  if job_alive and d.job_id is not null then
    insert into collab.job_events (job_id, executor_id, event_type, payload)
    values (d.job_id, d.executor_id, 'retried',
            jsonb_build_object('dead_letter_id', d.id, 'retried_job_id', new_id));
  end if;
  return query select new_id, true;
end
$$;

CREATE FUNCTION collab.duplicate_workflow_v1(workflow_id uuid, name text DEFAULT NULL::text) RETURNS SETOF collab.workflows
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  w collab.workflows;
begin
  perform collab._check_workflow_fields(name, null, null, null);
  w := collab._lock_workflow(workflow_id, '{client,admin}');
  return query
    insert into collab.workflows (executor_id, name, description, version, definition, input_schema, parent_id)
    values (w.executor_id, coalesce(btrim(duplicate_workflow_v1.name), w.name), w.description,
            w.version + 1, w.definition, w.input_schema, w.id)
    returning *;
end
$$;

CREATE FUNCTION collab.duplicate_workflow_v2(workflow_id uuid, name text DEFAULT NULL::text, idempotency_key text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  made uuid;
  source collab.workflows;
  w collab.workflows;
begin
  source := collab._lock_workflow(workflow_id, '{client,admin}');
  if idempotency_key is not null then
    made := collab._claim_idempotency_key(source.executor_id, 'workflow', idempotency_key, md5(jsonb_build_object(
      'op', 'duplicate', 'workflow_id', source.id, 'name', name)::text));
    select * into w from collab.workflows x where x.id = made;
    if found then
      return jsonb_build_object('workflow', to_jsonb(w), 'created', false);
    end if;
  end if;
  select * into strict w from collab.duplicate_workflow_v1(workflow_id, name);
  if idempotency_key is not null then
    perform collab._remember_idempotency_key(source.executor_id, 'workflow', idempotency_key, w.id);
  end if;
  return jsonb_build_object('workflow', to_jsonb(w), 'created', true);
end
$$;

CREATE FUNCTION collab.events_by_job_v1(job_id uuid, after_seq bigint DEFAULT 0, page_size integer DEFAULT 1000) RETURNS SETOF collab.job_events
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  perform collab_private._check_range('page_size', page_size, 1, 10000);
  perform collab_private._require_visible_job(job_id);
  return query
    select * from collab.job_events e
     where e.job_id = events_by_job_v1.job_id and e.seq > coalesce(after_seq, 0)
     order by e.seq
     limit page_size;
end
$$;

CREATE FUNCTION collab.executor_members_v1(executor_id text) RETURNS SETOF collab.executor_members
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform collab._check_name('executor_id', executor_id);
  perform collab._require_member(executor_id, '{admin}');
  return query
    select m.* from collab.executor_members m
     where m.executor_id = executor_members_v1.executor_id
     order by m.created_at, m.user_id;
end
$$;

COMMENT ON FUNCTION collab.executor_members_v1(executor_id text) IS 'The members of an executor (executor_id, user_id, role, created_at), oldest first; trusted callers and admins of the executor';

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

CREATE FUNCTION collab.fire_due_schedules_v1(executor_id text DEFAULT NULL::text) RETURNS TABLE(schedule_id uuid, run_id uuid, tick timestamp with time zone, created boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  s collab.workflow_schedules;
  w collab.workflows;
  started jsonb;
  failure text;
begin
  if executor_id is not null then
    perform collab._check_name('executor_id', executor_id);
    perform collab._require_member(executor_id, '{worker,admin}');
  elsif not collab._caller_is_trusted() then
    perform collab._raise('CL403', 'not allowed: firing every executor''s schedules needs the service role; pass executor_id');
  end if;
  for s in
    select * from collab.workflow_schedules x
     where x.enabled and x.next_fire_at <= now()
       and (fire_due_schedules_v1.executor_id is null or x.executor_id = fire_due_schedules_v1.executor_id)
     order by x.next_fire_at, x.id
       for update skip locked
  loop
    started := null;
    failure := null;
    select * into w from collab.workflows x where x.id = s.workflow_id;
    if w.status <> 'published' then
      failure := format('workflow %s is %s: no run started for tick %s', w.id, w.status, s.next_fire_at);
    else
      begin
        started := collab._start_run(w, s.input,
          'schedule:' || s.id || ':' || to_char(s.next_fire_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"'),
          'schedule', s.id);
      exception when others then
        failure := format('tick %s: %s', s.next_fire_at, sqlerrm);
      end;
    end if;
    update collab.workflow_schedules u
       set next_fire_at = collab._cron_next(s.cron, s.timezone, greatest(now(), s.next_fire_at)),
           last_fired_at = case when started is not null then s.next_fire_at else u.last_fired_at end,
           last_run_id = coalesce((started -> 'run' ->> 'id')::uuid, u.last_run_id),
           last_error = failure, updated_at = now()
     where u.id = s.id;
    schedule_id := s.id;
    run_id := (started -> 'run' ->> 'id')::uuid;
    tick := s.next_fire_at;
    created := coalesce((started ->> 'created')::boolean, false);
    return next;
  end loop;
end
$$;

CREATE FUNCTION collab.get_job_v1(job_id uuid) RETURNS SETOF collab.jobs
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  perform collab_private._require_visible_job(job_id);
  return query select * from collab.jobs j where j.id = get_job_v1.job_id;
end
$$;

CREATE FUNCTION collab.get_run_v1(run_id uuid) RETURNS SETOF collab.workflow_runs
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  perform collab_private._require_visible_run(run_id);
  return query select l.* from collab.workflow_runs r, lateral collab_private._live_run(r) l
                where r.id = get_run_v1.run_id;
end
$$;

CREATE FUNCTION collab.get_workflow_v1(workflow_id uuid) RETURNS SETOF collab.workflows
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  perform collab_private._require_visible_workflow(workflow_id);
  return query select * from collab.workflows w where w.id = get_workflow_v1.workflow_id;
end
$$;

CREATE FUNCTION collab.install_cron_v1() RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if not collab._caller_is_trusted() then
    perform collab._raise('CL403', 'not allowed: installing the pg_cron job needs the service role');
  end if;
  if not exists (select 1 from pg_catalog.pg_extension where extname = 'pg_cron') then
    return null;
  end if;
  return cron.schedule('collab-fire-due-schedules', '* * * * *', 'select collab.fire_due_schedules_v1()');
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
$$;

CREATE FUNCTION collab.jobs_bulk_v1(action text, executor_id text, job_ids uuid[] DEFAULT NULL::uuid[], statuses text[] DEFAULT NULL::text[], type text DEFAULT NULL::text, reason text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

COMMENT ON FUNCTION collab.jobs_bulk_v1(action text, executor_id text, job_ids uuid[], statuses text[], type text, reason text) IS 'Retry, cancel or delete selected (job_ids) or matching (statuses, type) jobs of an executor in one statement: { action, matched, done, refused, refusedByStatus, notFound }';

CREATE FUNCTION collab.jobs_list_after_v1(executor_id text DEFAULT NULL::text, statuses text[] DEFAULT NULL::text[], type text DEFAULT NULL::text, page_size integer DEFAULT 50, after_priority integer DEFAULT NULL::integer, after_created_at timestamp with time zone DEFAULT NULL::timestamp with time zone, after_id uuid DEFAULT NULL::uuid) RETURNS SETOF collab.jobs
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    SET plan_cache_mode TO 'force_custom_plan'
    AS $$
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
    select p.* from (
      select q.* from unnest(coalesce(statuses, array['queued', 'running', 'succeeded', 'failed', 'cancelled'])) s (status)
       cross join lateral (
         (select * from collab.jobs j
           where (jobs_list_after_v1.executor_id is null or j.executor_id = jobs_list_after_v1.executor_id)
             and j.status = s.status and j.status <> 'running'
             and (jobs_list_after_v1.type is null or j.type = jobs_list_after_v1.type)
             and after_priority is not null and j.priority = after_priority
             and (j.created_at, j.id) > (after_created_at, after_id)
           order by j.created_at, j.id
           limit page_size)
         union all
         (select * from collab.jobs j
           where (jobs_list_after_v1.executor_id is null or j.executor_id = jobs_list_after_v1.executor_id)
             and j.status = s.status and j.status <> 'running'
             and (jobs_list_after_v1.type is null or j.type = jobs_list_after_v1.type)
             and (after_priority is null or j.priority < after_priority)
           order by j.priority desc, j.created_at, j.id
           limit page_size)) q
       where s.status <> 'running'
      union all
      (select * from collab.jobs j
        where j.status = 'running'
          and (statuses is null or 'running' = any (statuses))
          and (jobs_list_after_v1.executor_id is null or j.executor_id = jobs_list_after_v1.executor_id)
          and (jobs_list_after_v1.type is null or j.type = jobs_list_after_v1.type)
          and (after_priority is null or j.priority < after_priority
               or (j.priority = after_priority and (j.created_at, j.id) > (after_created_at, after_id)))
        order by j.priority desc, j.created_at, j.id
        limit page_size)) p
     order by p.priority desc, p.created_at, p.id
     limit page_size;
end
$$;

COMMENT ON FUNCTION collab.jobs_list_after_v1(executor_id text, statuses text[], type text, page_size integer, after_priority integer, after_created_at timestamp with time zone, after_id uuid) IS 'Jobs by priority desc, created_at, id after the given last row (keyset paging of jobs_list_v1); RLS applies';

CREATE FUNCTION collab.jobs_list_v1(executor_id text DEFAULT NULL::text, statuses text[] DEFAULT NULL::text[], type text DEFAULT NULL::text, page_size integer DEFAULT 50, page_offset integer DEFAULT 0) RETURNS SETOF collab.jobs
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    SET plan_cache_mode TO 'force_custom_plan'
    AS $$
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
    -- `running` implies jobs_running_idx's predicate, any other status the listing index's.
    return query
      select * from collab.jobs j
       where (jobs_list_v1.executor_id is null or j.executor_id = jobs_list_v1.executor_id)
         and j.status = jobs_list_v1.statuses[1]
         and (jobs_list_v1.type is null or j.type = jobs_list_v1.type)
       order by j.priority desc, j.created_at, j.id
       limit page_size offset page_offset;
  else
    return query
      select u.* from (
        (select * from collab.jobs j
          where j.status <> 'running'
            and (jobs_list_v1.executor_id is null or j.executor_id = jobs_list_v1.executor_id)
            and (jobs_list_v1.statuses is null or j.status = any (jobs_list_v1.statuses))
            and (jobs_list_v1.type is null or j.type = jobs_list_v1.type)
          order by j.priority desc, j.created_at, j.id
          limit page_size + page_offset)
        union all
        (select * from collab.jobs j
          where j.status = 'running'
            and (jobs_list_v1.statuses is null or 'running' = any (jobs_list_v1.statuses))
            and (jobs_list_v1.executor_id is null or j.executor_id = jobs_list_v1.executor_id)
            and (jobs_list_v1.type is null or j.type = jobs_list_v1.type)
          order by j.priority desc, j.created_at, j.id
          limit page_size + page_offset)) u
       order by u.priority desc, u.created_at, u.id
       limit page_size offset page_offset;
  end if;
end
$$;

COMMENT ON FUNCTION collab.jobs_list_v1(executor_id text, statuses text[], type text, page_size integer, page_offset integer) IS 'Jobs by priority desc, created_at asc (the seed Worker Queue API), limit/offset paging; RLS applies';

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

CREATE FUNCTION collab.metrics_by_executor_v1() RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select jsonb_build_object(
    'generatedAt', now(),
    'jobs', coalesce((
      select jsonb_agg(jsonb_build_object('executorId', c.executor_id, 'type', c.type,
                                          'state', c.status, 'count', c.n)
                       order by c.executor_id, c.type, c.status)
        from (select j.executor_id, j.type, j.status, count(*) as n
                from collab.jobs j
               group by j.executor_id, j.type, j.status) c), '[]'::jsonb),
    'deadLetters', coalesce((
      select jsonb_object_agg(d.executor_id, d.n)
        from (select dl.executor_id, count(*) as n
                from collab.job_dead_letters dl
               where dl.retried_at is null
               group by dl.executor_id) d), '{}'::jsonb),
    'activeWorkers', coalesce((
      select jsonb_object_agg(w.executor_id, w.n)
        from (select a.executor_id, count(*) as n
                from collab.workers_active_v1(20) a
               group by a.executor_id) w), '{}'::jsonb))
$$;

COMMENT ON FUNCTION collab.metrics_by_executor_v1() IS 'Job counts by executor, type and state, dead letters not yet retried and active workers by executor (Prometheus /metrics)';

CREATE FUNCTION collab.metrics_overview_v1(executor_id text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  ex text := metrics_overview_v1.executor_id;
begin
  return (
    with counts as materialized (
      select * from collab_private._job_counts(ex)
    ), finished as (
      select c.minute, c.n from counts c
       where c.status in ('succeeded', 'failed', 'cancelled') and c.minute > '-infinity'
    ), recent as materialized (
      select j.created_at, j.started_at, j.finished_at, j.status, j.attempts
        from collab.jobs j
       where j.finished_at > now() - interval '60 minutes'
         and (ex is null or j.executor_id = ex)
       order by j.finished_at desc
       limit 1000
    )
    select jsonb_build_object(
      'generatedAt', now(),
      'byStatus', collab.stats_v2(ex),
      'byType', coalesce((
        select jsonb_object_agg(t.type, t.counts) from (
          select s.type, jsonb_object_agg(s.status, s.n) as counts
            from (select c.type, c.status, sum(c.n) as n from counts c
                   group by c.type, c.status having sum(c.n) <> 0) s
           group by s.type) t), '{}'::jsonb),
      'finished', jsonb_build_object(
        'last1m', (select coalesce(sum(f.n), 0) from finished f where f.minute > now() - interval '2 minutes'),
        'last5m', (select coalesce(sum(f.n), 0) from finished f where f.minute > now() - interval '6 minutes'),
        'last60m', (select coalesce(sum(f.n), 0) from finished f where f.minute > now() - interval '61 minutes')),
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
                  where d.retried_at is null and (ex is null or d.executor_id = ex)),
        'total', (select count(*) from collab.job_dead_letters d
                   where ex is null or d.executor_id = ex)),
      'activeWorkers', (select count(*) from collab.workers_active_v1(20, ex))));
end
$$;

CREATE FUNCTION collab.my_executors_v1() RETURNS SETOF collab.executor_members
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select m.*
    from collab.executor_members m
   where m.user_id = (select auth.uid())
   order by m.executor_id
$$;

COMMENT ON FUNCTION collab.my_executors_v1() IS 'The caller''s memberships (executor_id, user_id, role, created_at), by executor id; none without a sub';

CREATE FUNCTION collab.publish_workflow_v1(workflow_id uuid) RETURNS SETOF collab.workflows
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  w collab.workflows;
  errors text[];
begin
  w := collab._lock_workflow(workflow_id, '{client,admin}', '{draft,published}', 'publish');
  if w.status = 'published' then
    return next w;
    return;
  end if;
  errors := collab._definition_errors(w.executor_id, w.definition);
  if cardinality(errors) > 0 then
    raise exception using errcode = 'CL400',
      message = format('cannot publish workflow %s: %s', w.id, array_to_string(errors, '; ')),
      detail = to_jsonb(errors)::text;
  end if;
  return query
    update collab.workflows u
       set status = 'published', published_at = now(), updated_at = now()
     where u.id = w.id
    returning u.*;
end
$$;

CREATE FUNCTION collab.purge_jobs_batch_v1(older_than_seconds integer DEFAULT 0, executor_id text DEFAULT NULL::text, statuses text[] DEFAULT '{succeeded}'::text[], batch_size integer DEFAULT 1000, cursor jsonb DEFAULT NULL::jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  before timestamptz;
begin
  perform collab._check_purge_arguments(older_than_seconds, executor_id, statuses, batch_size, cursor);
  before := now() - make_interval(secs => older_than_seconds);
  return collab._purge_jobs_batch(
    executor_id,
    case when 'succeeded' = any (statuses) then before end,
    case when 'failed' = any (statuses) then before end,
    case when 'cancelled' = any (statuses) then before end,
    batch_size, cursor);
end
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

CREATE FUNCTION collab.purge_runs_batch_v1(older_than_seconds integer DEFAULT 0, executor_id text DEFAULT NULL::text, statuses text[] DEFAULT '{succeeded,failed,cancelled}'::text[], batch_size integer DEFAULT 100, cursor jsonb DEFAULT NULL::jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  before timestamptz;
  after_at timestamptz;
  after_id uuid;
  picked uuid[];
  run_jobs uuid[];
  ready uuid[];
  held uuid[];
  n_picked integer;
  n_jobs integer;
  n_events integer;
  n_runs integer;
  last_at timestamptz;
  last_id uuid;
begin
  perform collab._check_purge_arguments(older_than_seconds, executor_id, statuses, batch_size, cursor);
  begin
    after_at := (cursor ->> 'completedAt')::timestamptz;
    after_id := (cursor ->> 'id')::uuid;
  exception when others then
    perform collab._raise('CL400', 'invalid cursor: pass the cursor of the previous batch');
  end;
  before := now() - make_interval(secs => older_than_seconds);
  select array_agg(p.id order by p.completed_at, p.id), count(*),
         (array_agg(p.completed_at order by p.completed_at desc, p.id desc))[1],
         (array_agg(p.id order by p.completed_at desc, p.id desc))[1]
    into picked, n_picked, last_at, last_id
    from (select r.id, r.completed_at from collab.workflow_runs r
           where r.status in ('succeeded', 'failed', 'cancelled') and r.status = any (statuses)
             and r.completed_at < before
             and (after_at is null or (r.completed_at, r.id) > (after_at, after_id))
             and (purge_runs_batch_v1.executor_id is null or r.executor_id = purge_runs_batch_v1.executor_id)
           order by r.completed_at, r.id
           limit batch_size
             for update of r skip locked) p;
  if n_picked = 0 then
    return jsonb_build_object('purged', 0, 'jobs', 0, 'events', 0, 'cursor', null, 'done', true);
  end if;
  -- Lock the runs' jobs (skipping those someone holds), then keep the runs all of whose
  -- jobs we hold and are finished.
  -- The runs are locked, so no step job is added to them while this runs.
  select coalesce(array_agg(distinct e.job_id), '{}') into run_jobs
    from collab.job_events e where e.run_id = any (picked) and e.job_id is not null;
  select coalesce(array_agg(l.id), '{}') into held
    from (select j.id from collab.jobs j where j.id = any (run_jobs)
            for update of j skip locked) l;
  select coalesce(array_agg(r), '{}') into ready
    from unnest(picked) r
   where not exists (select 1 from collab.jobs j
                      where j.id = any (run_jobs) and j.workflow_run_id = r
                        and (j.status not in ('succeeded', 'failed', 'cancelled') or not j.id = any (held)));
  with gone_jobs as (
    delete from collab.jobs j where j.id = any (run_jobs) and j.workflow_run_id = any (ready) returning j.id
  ), job_events as (
    delete from collab.job_events e using gone_jobs g where e.job_id = g.id returning 1
  ), run_events as (
    delete from collab.job_events e where e.run_id = any (ready) and e.job_id not in (select id from gone_jobs)
    returning 1
  ), runs as (
    delete from collab.workflow_runs r where r.id = any (ready) returning 1
  )
  select (select count(*) from gone_jobs), (select count(*) from job_events) + (select count(*) from run_events),
         (select count(*) from runs)
    into n_jobs, n_events, n_runs;
  return jsonb_build_object(
    'purged', n_runs, 'jobs', n_jobs, 'events', n_events,
    'cursor', case when n_picked < batch_size then null
                   else jsonb_build_object('completedAt', last_at, 'id', last_id) end,
    'done', n_picked < batch_size);
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

CREATE TABLE collab.step_types (
    executor_id text NOT NULL,
    name text NOT NULL,
    title text NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    category text DEFAULT 'general'::text NOT NULL,
    kind text DEFAULT 'job'::text NOT NULL,
    config_schema jsonb,
    input_schema jsonb,
    output_schema jsonb,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT step_types_category_check CHECK (((char_length(category) >= 1) AND (char_length(category) <= 100))),
    CONSTRAINT step_types_description_check CHECK ((char_length(description) <= 10000)),
    CONSTRAINT step_types_executor_id_check CHECK (((executor_id = '*'::text) OR ((char_length(executor_id) >= 1) AND (char_length(executor_id) <= 200)))),
    CONSTRAINT step_types_kind_check CHECK ((kind = ANY (ARRAY['job'::text, 'approval'::text]))),
    CONSTRAINT step_types_name_check CHECK (((char_length(name) >= 1) AND (char_length(name) <= 200))),
    CONSTRAINT step_types_title_check CHECK (((char_length(title) >= 1) AND (char_length(title) <= 200)))
);

COMMENT ON TABLE collab.step_types IS 'Step catalog: per executor, and built-ins under executor_id *';

CREATE FUNCTION collab.register_step_types_v1(executor_id text, step_types jsonb) RETURNS SETOF collab.step_types
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $_$
declare
  bad record;
begin
  perform collab._check_name('executor_id', executor_id);
  if jsonb_typeof(step_types) is distinct from 'array' then
    perform collab._raise('CL400', 'step_types must be a JSON array of {name, title, ...} objects');
  end if;
  perform collab._check_range('number of step types', jsonb_array_length(step_types), 0, 1000);
  select t.ord, t.msg, t.code into bad from (
    select s.ord, case
      when jsonb_typeof(s.v) <> 'object' then 'must be a JSON object'
      when jsonb_typeof(s.v -> 'name') is distinct from 'string'
           or s.v ->> 'name' !~ '^[A-Za-z0-9][A-Za-z0-9_.:@/+-]*$' or char_length(s.v ->> 'name') > 200
        then 'name must be 1-200 characters: letters, digits and _ . : @ / + -'
      when jsonb_typeof(s.v -> 'title') not in ('string', 'null') or char_length(s.v ->> 'title') not between 1 and 200
        then 'title must be a string of 1-200 characters'
      when jsonb_typeof(s.v -> 'description') not in ('string', 'null') or char_length(s.v ->> 'description') > 10000
        then 'description must be a string of at most 10000 characters'
      when jsonb_typeof(s.v -> 'category') not in ('string', 'null') or char_length(s.v ->> 'category') not between 1 and 100
        then 'category must be a string of 1-100 characters'
      when jsonb_typeof(s.v -> 'config_schema') not in ('object', 'null')
        then 'config_schema must be a JSON object (a JSON Schema) or null'
      when jsonb_typeof(s.v -> 'input_schema') not in ('object', 'null')
        then 'input_schema must be a JSON object (a JSON Schema) or null'
      when jsonb_typeof(s.v -> 'output_schema') not in ('object', 'null')
        then 'output_schema must be a JSON object (a JSON Schema) or null'
      when octet_length(s.v::text) > 65536 then 'is larger than 65536 bytes'
      when exists (select 1 from collab.step_types b where b.executor_id = '*' and b.name = s.v ->> 'name')
        then format('%s is a built-in step type', s.v ->> 'name')
    end as msg,
    case when exists (select 1 from collab.step_types b where b.executor_id = '*' and b.name = s.v ->> 'name')
         then 'CL409' when octet_length(s.v::text) > 65536 then 'CL413' else 'CL400' end as code
    from jsonb_array_elements(step_types) with ordinality as s (v, ord)) t
   where t.msg is not null order by t.ord limit 1;
  if found then
    perform collab._raise(bad.code, format('step_types[%s]: %s', bad.ord - 1, bad.msg));
  end if;
  perform collab._require_member(executor_id, '{worker,admin}');

  return query
  insert into collab.step_types as c (executor_id, name, title, description, category, kind,
                                      config_schema, input_schema, output_schema)
  select distinct on (s.v ->> 'name')
         register_step_types_v1.executor_id, s.v ->> 'name', coalesce(s.v ->> 'title', s.v ->> 'name'),
         coalesce(s.v ->> 'description', ''), coalesce(s.v ->> 'category', 'general'), 'job',
         nullif(s.v -> 'config_schema', 'null'::jsonb), nullif(s.v -> 'input_schema', 'null'::jsonb),
         nullif(s.v -> 'output_schema', 'null'::jsonb)
    from jsonb_array_elements(step_types) with ordinality as s (v, ord)
   order by s.v ->> 'name', s.ord desc
  on conflict on constraint step_types_pkey do update
     set title = excluded.title, description = excluded.description, category = excluded.category,
         config_schema = excluded.config_schema, input_schema = excluded.input_schema,
         output_schema = excluded.output_schema, updated_at = now()
  returning c.*;
end
$_$;

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

CREATE FUNCTION collab.resume_run_v1(run_id uuid, step_id text, data jsonb DEFAULT '{}'::jsonb) RETURNS SETOF collab.workflow_runs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  r collab.workflow_runs;
  s collab.workflow_step_runs;
begin
  if jsonb_typeof(coalesce(data, '{}'::jsonb)) <> 'object' then
    perform collab._raise('CL400', 'data must be a JSON object');
  end if;
  perform collab._check_size('data', data, 1048576);
  r := collab._lock_run(run_id, '{client,worker,admin}');
  select * into s from collab.workflow_step_runs x
   where x.run_id = r.id and x.step_id = resume_run_v1.step_id for update;
  if not found then
    perform collab._raise('CL404', format('step %s not found in run %s', coalesce(step_id, 'null'), r.id));
  end if;
  if s.status <> 'waiting' then
    perform collab._raise('CL412', format('cannot resume step %s of run %s: it is %s%s', s.step_id, r.id, s.status,
      case when s.kind <> 'approval' then ' (only approval steps wait for resume)' else '' end));
  end if;
  update collab.workflow_step_runs x
     set status = 'succeeded', output = coalesce(data, '{}'::jsonb), started_at = now(),
         completed_at = now(), updated_at = now()
   where x.run_id = r.id and x.step_id = s.step_id;
  perform collab._run_event(r, 'step_succeeded', jsonb_strip_nulls(jsonb_build_object(
    'step_id', s.step_id, 'output', case when octet_length(coalesce(data, '{}'::jsonb)::text) <= 65536
                                         then coalesce(data, '{}'::jsonb) end,
    'output_truncated', case when octet_length(coalesce(data, '{}'::jsonb)::text) > 65536 then true end,
    'resumed_by', auth.uid())));
  perform collab._advance_run(r.id);
  select * into r from collab.workflow_runs u where u.id = r.id;
  return next collab_private._live_run(r);
end
$$;

CREATE FUNCTION collab.retention_policy_v1(executor_id text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform collab._check_name('executor_id', executor_id);
  perform collab._require_member(executor_id, '{client,worker,admin}');
  return collab._retention_policy(executor_id);
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

CREATE FUNCTION collab.retry_run_v1(run_id uuid) RETURNS SETOF collab.workflow_runs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  r collab.workflow_runs;
  reset_steps jsonb;
begin
  r := collab._lock_run(run_id, '{client,worker,admin}', '{failed}', 'retry');
  with back as (
    update collab.workflow_step_runs s
       set status = 'pending', output = null, error = null, job_id = null, input = null,
           attempts = s.attempts + coalesce((select j.attempts from collab.jobs j where j.id = o.job_id), 0),
           queued_at = null, started_at = null, completed_at = null, updated_at = now()
      from collab.workflow_step_runs o
     where s.run_id = r.id and o.run_id = s.run_id and o.step_id = s.step_id
       and o.status in ('failed', 'cancelled', 'skipped')
    returning s.step_id, o.status as previous_status, o.job_id as previous_job_id, o.error as previous_error
  )
  select coalesce(jsonb_agg(jsonb_build_object('step_id', b.step_id, 'previous_status', b.previous_status,
                                               'previous_job_id', b.previous_job_id,
                                               'previous_error', left(b.previous_error, 2000))
                            order by b.step_id), '[]'::jsonb)
    into reset_steps from back b;
  perform collab._run_event(r, 'run_retried', jsonb_build_object('reset', reset_steps, 'previous_error', left(r.error, 2000)));
  insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
  select r.id, r.executor_id, 'step_pending',
         jsonb_build_object('run_id', r.id, 'step_id', e ->> 'step_id', 'previous_status', e ->> 'previous_status',
                            'previous_job_id', e -> 'previous_job_id'), r.id
    from jsonb_array_elements(reset_steps) with ordinality as x (e, n)
   order by x.n;
  perform collab._set_run_status(r.id, 'running');
  perform collab._advance_run(r.id);
  update collab.job_dead_letters d
     set retried_at = now(), retried_job_id = s.job_id
    from jsonb_array_elements(reset_steps) as e
    join collab.workflow_step_runs s on s.run_id = r.id and s.step_id = e ->> 'step_id'
   where d.job_id = (e ->> 'previous_job_id')::uuid and d.retried_at is null and s.job_id is not null;
  select * into r from collab.workflow_runs u where u.id = r.id;
  return next collab_private._live_run(r);
end
$$;

CREATE FUNCTION collab.run_events_after_v1(run_id uuid, after_seq bigint DEFAULT 0, page_size integer DEFAULT 1000, horizon_seq bigint DEFAULT NULL::bigint, horizon_xid text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  h record;
  page jsonb;
  n integer;
  last_seq bigint;
  rid uuid := run_events_after_v1.run_id;
  after bigint := coalesce(run_events_after_v1.after_seq, 0);
begin
  perform collab_private._check_range('page_size', page_size, 1, 10000);
  if after < 0 then
    perform collab_private._raise('CL400', format('after_seq must be >= 0 (got %s)', after_seq));
  end if;
  if rid is null then
    perform collab_private._raise('CL400', 'run_id is required');
  end if;
  perform collab_private._require_visible_run(rid);
  begin
    h := collab_private._event_horizon(after_seq, horizon_seq, horizon_xid::xid8);
  exception when invalid_text_representation then
    perform collab_private._raise('CL400', format('invalid horizon_xid %s', quote_literal(left(horizon_xid, 40))));
  end;
  select coalesce(jsonb_agg(e.event order by e.seq), '[]'::jsonb), count(*), max(e.seq)
    into page, n, last_seq
    from (select x.seq,
                 case when x.job_id = rid then to_jsonb(x) - 'xact_id'
                      else jsonb_build_object(
                             'seq', x.seq, 'job_id', rid, 'executor_id', x.executor_id,
                             'event_type', case x.event_type when 'claimed' then 'step_running'
                                                             when 'succeeded' then 'step_succeeded'
                                                             else 'step_queued' end,
                             'payload', jsonb_build_object('run_id', rid, 'step_id', coalesce(x.payload ->> 'step_id', j.workflow_step_id),
                                                           'job_id', x.job_id)
                                        || case x.event_type
                                             when 'queued' then jsonb_build_object('type', coalesce(x.payload ->> 'type', j.type))
                                             when 'succeeded' then
                                               case when octet_length(coalesce(s.output, 'null'::jsonb)::text) <= 65536
                                                    then jsonb_build_object('output', s.output)
                                                    else '{"output_truncated": true}'::jsonb end
                                             else x.payload - 'lease_until' - 'previous_status' end,
                             'created_at', x.created_at, 'run_id', rid) end as event
            from collab.job_events x
            left join collab.jobs j on j.id = x.job_id and x.job_id <> rid
            left join collab.workflow_step_runs s
                   on x.event_type = 'succeeded' and s.run_id = rid
                  and s.step_id = coalesce(x.payload ->> 'step_id', j.workflow_step_id)
           where x.run_id = rid and x.seq > after and x.seq <= h.safe_seq
             and (x.job_id = rid
                  or ((x.payload ? 'step_id' or j.workflow_run_id = rid)
                      and (x.event_type = 'queued'
                           or (x.event_type = 'succeeded' and s.status = 'succeeded' and s.job_id = x.job_id)
                           or (x.event_type in ('claimed', 'retry_scheduled')
                               and not exists (select 1 from collab.job_events t
                                                where t.run_id = rid and t.job_id = rid and t.seq < x.seq
                                                  and t.event_type in ('step_succeeded', 'step_failed', 'step_cancelled')
                                                  and t.payload ->> 'job_id' = x.job_id::text)))))
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

CREATE FUNCTION collab.run_snapshot_v1(run_id uuid) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  head bigint;
begin
  perform collab_private._require_visible_run(run_id);
  head := collab.job_events_head_v1();  -- first: the reads below see everything up to it
  return jsonb_build_object(
    'run', (select to_jsonb(collab_private._live_run(r)) from collab.workflow_runs r where r.id = run_snapshot_v1.run_id),
    'steps', coalesce((select jsonb_agg(to_jsonb(s)) from collab_private._live_steps(run_snapshot_v1.run_id) s),
                      '[]'::jsonb),
    'cursor', head);
end
$$;

CREATE TABLE collab.workflow_step_runs (
    run_id uuid NOT NULL,
    step_id text NOT NULL,
    executor_id text NOT NULL,
    type text NOT NULL,
    kind collab.workflow_step_kind NOT NULL,
    "position" integer DEFAULT 0 NOT NULL,
    status collab.workflow_step_status DEFAULT 'pending'::text NOT NULL,
    predecessors text[] DEFAULT '{}'::text[] NOT NULL,
    config jsonb DEFAULT '{}'::jsonb NOT NULL,
    max_attempts collab.workflow_step_max_attempts DEFAULT 3 NOT NULL,
    attempts collab.workflow_step_attempts DEFAULT 0 NOT NULL,
    input jsonb,
    output jsonb,
    error text,
    job_id uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    queued_at timestamp with time zone,
    started_at timestamp with time zone,
    completed_at timestamp with time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
)
WITH (fillfactor='50');

COMMENT ON TABLE collab.workflow_step_runs IS 'One row per step of a run; status pending|queued|running|waiting|succeeded|failed|skipped|cancelled (running: read from the step''s job; skipped: pending when its run failed)';

CREATE FUNCTION collab.run_steps_v1(run_id uuid) RETURNS SETOF collab.workflow_step_runs
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  perform collab_private._require_visible_run(run_id);
  return query select * from collab_private._live_steps(run_steps_v1.run_id);
end
$$;

CREATE FUNCTION collab.runs_v1(workflow_id uuid DEFAULT NULL::uuid, executor_id text DEFAULT NULL::text, status text DEFAULT NULL::text, page_size integer DEFAULT 20, cursor text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  return collab.runs_v2(workflow_id => runs_v1.workflow_id, executor_id => runs_v1.executor_id,
                        status => runs_v1.status, page_size => runs_v1.page_size, cursor => runs_v1.cursor);
end
$$;

CREATE FUNCTION collab.runs_v2(workflow_id uuid DEFAULT NULL::uuid, executor_id text DEFAULT NULL::text, status text DEFAULT NULL::text, since timestamp with time zone DEFAULT NULL::timestamp with time zone, until timestamp with time zone DEFAULT NULL::timestamp with time zone, page_size integer DEFAULT 20, cursor text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    SET plan_cache_mode TO 'force_custom_plan'
    AS $$
declare
  c record;
  rows jsonb;
  n integer;
begin
  perform collab_private._check_range('page_size', page_size, 1, 1000);
  if status is not null and status not in ('pending', 'running', 'paused', 'succeeded', 'failed', 'cancelled') then
    perform collab_private._raise('CL400', 'status must be pending, running, paused, succeeded, failed or cancelled');
  end if;
  if since is not null and until is not null and until < since then
    perform collab_private._raise('CL400', 'until must not be before since');
  end if;
  c := collab_private._cursor_decode(cursor);
  select coalesce(jsonb_agg(to_jsonb(p) || case when p.status in ('pending', 'running', 'paused')
                                                 then jsonb_build_object('context', collab_private._run_context(p.id))
                                                 else '{}'::jsonb end
                            order by p.created_at desc, p.id desc), '[]'::jsonb),
         count(*)
    into rows, n
    from (select * from collab.workflow_runs r
           where (runs_v2.workflow_id is null or r.workflow_id = runs_v2.workflow_id)
             and (runs_v2.executor_id is null or r.executor_id = runs_v2.executor_id)
             and (runs_v2.status is null or r.status = runs_v2.status)
             and (runs_v2.since is null or r.created_at >= runs_v2.since)
             and (runs_v2.until is null or r.created_at < runs_v2.until)
             and (c.ts is null
                  or (c.id is null and r.created_at < c.ts)
                  or (c.id is not null and (r.created_at, r.id) < (c.ts, c.id)))
           order by r.created_at desc, r.id desc
           limit page_size + 1) p;
  return collab_private._page(rows, n, page_size);
end
$$;

CREATE FUNCTION collab.schedules_v1(workflow_id uuid DEFAULT NULL::uuid, executor_id text DEFAULT NULL::text) RETURNS SETOF collab.workflow_schedules
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  return query
    select * from collab.workflow_schedules s
     where (schedules_v1.workflow_id is null or s.workflow_id = schedules_v1.workflow_id)
       and (schedules_v1.executor_id is null or s.executor_id = schedules_v1.executor_id)
     order by s.next_fire_at, s.id;
end
$$;

CREATE FUNCTION collab.schema_version() RETURNS integer
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$ select 4 $$;

CREATE FUNCTION collab.set_retention_policy_v1(executor_id text, policy jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  existing jsonb;
  merged jsonb;
  field text;
begin
  perform collab._check_name('executor_id', executor_id);
  if jsonb_typeof(policy) is distinct from 'object' then
    perform collab._raise('CL400', 'policy must be a JSON object');
  end if;
  for field in select jsonb_object_keys(policy) loop
    if field not in ('succeededSeconds', 'failedSeconds', 'cancelledSeconds', 'deadLetterSeconds', 'enabled') then
      perform collab._raise('CL400', format('unknown policy field %s: succeededSeconds, failedSeconds, '
                                            'cancelledSeconds, deadLetterSeconds or enabled',
                                            quote_literal(left(field, 50))));
    end if;
    if field = 'enabled' and jsonb_typeof(policy -> field) is distinct from 'boolean' then
      perform collab._raise('CL400', 'enabled must be true or false');
    end if;
    if field <> 'enabled' and jsonb_typeof(policy -> field) <> 'null'
       and (jsonb_typeof(policy -> field) <> 'number' or (policy ->> field)::numeric <> floor((policy ->> field)::numeric)
            or (policy ->> field)::numeric not between 0 and 2147483647) then
      perform collab._raise('CL400', format('%s must be whole seconds between 0 and 2147483647, or null to keep forever',
                                            field));
    end if;
  end loop;
  perform collab._require_member(executor_id, '{admin}');
  existing := collab._retention_policy(executor_id);
  merged := existing || policy;
  insert into collab.retention_policies as r
         (executor_id, succeeded_seconds, failed_seconds, cancelled_seconds, dead_letter_seconds, enabled)
  values (executor_id, (merged ->> 'succeededSeconds')::integer, (merged ->> 'failedSeconds')::integer,
          (merged ->> 'cancelledSeconds')::integer, (merged ->> 'deadLetterSeconds')::integer,
          (merged ->> 'enabled')::boolean)
  on conflict on constraint retention_policies_pkey do update
     set succeeded_seconds = excluded.succeeded_seconds, failed_seconds = excluded.failed_seconds,
         cancelled_seconds = excluded.cancelled_seconds, dead_letter_seconds = excluded.dead_letter_seconds,
         enabled = excluded.enabled, updated_at = now();
  -- A changed policy applies at the next call, not after the current pause.
  update collab.retention_state s set next_run_at = now()
   where s.executor_id = set_retention_policy_v1.executor_id and s.lease_until is null;
  return collab._retention_policy(executor_id);
end
$$;

CREATE FUNCTION collab.start_run_v1(workflow_id uuid, input jsonb DEFAULT '{}'::jsonb, idempotency_key text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  w collab.workflows;
begin
  if idempotency_key is not null and char_length(idempotency_key) not between 1 and 255 then
    perform collab._raise('CL400', 'idempotency_key must be 1-255 characters');
  end if;
  if workflow_id is null then
    perform collab._raise('CL400', 'workflow_id is required');
  end if;
  select * into w from collab.workflows x where x.id = start_run_v1.workflow_id;
  if not found or not collab._caller_can_see(w.executor_id) then
    perform collab._raise('CL404', format('workflow %s not found', workflow_id));
  end if;
  perform collab._require_member(w.executor_id, '{client,worker,admin}');
  perform collab._check_run_input(w, coalesce(input, '{}'::jsonb));
  return collab._start_run(w, coalesce(input, '{}'::jsonb), idempotency_key, 'manual');
end
$$;

CREATE FUNCTION collab.stats_v1(executor_id text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  return collab.stats_v2(stats_v1.executor_id);
end
$$;

CREATE FUNCTION collab.stats_v2(executor_id text DEFAULT NULL::text, type text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  s record;
begin
  select coalesce(sum(c.n) filter (where c.status = 'queued'), 0) as queued,
         coalesce(sum(c.n) filter (where c.status = 'running'), 0) as running,
         coalesce(sum(c.n) filter (where c.status = 'succeeded'), 0) as succeeded,
         coalesce(sum(c.n) filter (where c.status = 'failed'), 0) as failed,
         coalesce(sum(c.n) filter (where c.status = 'cancelled'), 0) as cancelled,
         coalesce(sum(c.n), 0) as total
    into s
    from collab_private._job_counts(stats_v2.executor_id, stats_v2.type) c;
  return jsonb_build_object(
    'queued', s.queued, 'running', s.running, 'succeeded', s.succeeded,
    'failed', s.failed, 'cancelled', s.cancelled, 'total', s.total,
    'pending', s.queued, 'claimed', s.running, 'completed', s.succeeded);
end
$$;

COMMENT ON FUNCTION collab.stats_v2(executor_id text, type text) IS 'Exact job counts by status of an executor (and type), from the kept counts; RLS applies';

CREATE FUNCTION collab.step_types_v1(executor_id text DEFAULT NULL::text) RETURNS SETOF collab.step_types
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  return query
    select * from collab.step_types s
     where step_types_v1.executor_id is null or s.executor_id in ('*', step_types_v1.executor_id)
     order by s.category, s.name, s.executor_id;
end
$$;

CREATE FUNCTION collab.stop_waiting_for_jobs_v1(executor_id text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  held text[] := coalesce(nullif(current_setting('collab.waiting_for', true), ''), '{}');
begin
  if executor_id = any (held) then
    perform pg_advisory_unlock_shared(1668246640, hashtext(executor_id));
    perform set_config('collab.waiting_for', array_remove(held, executor_id)::text, false);
  end if;
end
$$;

CREATE TABLE collab.storage_deletions (
    id bigint NOT NULL,
    executor_id text NOT NULL,
    bucket text NOT NULL,
    path text NOT NULL,
    queued_at timestamp with time zone DEFAULT now() NOT NULL
);

COMMENT ON TABLE collab.storage_deletions IS 'Storage objects of deleted artifacts, listed for deletion by the SDK (storage_deletions_v1)';

CREATE FUNCTION collab.storage_deletions_v1(executor_id text DEFAULT NULL::text, page_size integer DEFAULT 100) RETURNS SETOF collab.storage_deletions
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform collab._check_range('page_size', page_size, 1, 1000);
  if storage_deletions_v1.executor_id is not null then
    perform collab._require_member(storage_deletions_v1.executor_id, '{worker,admin}');
  elsif not collab._caller_is_trusted() then
    perform collab._raise('CL403', 'not allowed: every executor needs the service role; pass executor_id');
  end if;
  return query
    select * from collab.storage_deletions d
     where storage_deletions_v1.executor_id is null or d.executor_id = storage_deletions_v1.executor_id
     order by d.id
     limit page_size;
end
$$;

CREATE FUNCTION collab.throughput_v1(executor_id text DEFAULT NULL::text, minutes integer DEFAULT 60) RETURNS TABLE(minute timestamp with time zone, succeeded bigint, failed bigint)
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  last_minute timestamptz := date_bin('1 minute', now(), timestamptz 'epoch');
begin
  perform collab_private._check_range('minutes', minutes, 1, 120);
  return query
    select m.minute,
           coalesce(sum(c.n) filter (where c.status = 'succeeded'), 0)::bigint,
           coalesce(sum(c.n) filter (where c.status = 'failed'), 0)::bigint
      from generate_series(last_minute - make_interval(mins => minutes - 1), last_minute,
                           interval '1 minute') as m (minute)
      left join collab_private._job_counts(throughput_v1.executor_id) c
        on c.minute = m.minute and c.status in ('succeeded', 'failed')
     group by m.minute
     order by m.minute;
end
$$;

COMMENT ON FUNCTION collab.throughput_v1(executor_id text, minutes integer) IS 'Succeeded and failed jobs per minute over the last minutes (default 60), from the kept counts; RLS applies';

CREATE FUNCTION collab.update_schedule_v1(schedule_id uuid, cron text DEFAULT NULL::text, timezone text DEFAULT NULL::text, input jsonb DEFAULT NULL::jsonb, enabled boolean DEFAULT NULL::boolean) RETURNS SETOF collab.workflow_schedules
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  s collab.workflow_schedules;
  w collab.workflows;
  next_tick timestamptz;
begin
  s := collab._lock_schedule(schedule_id, '{client,admin}');
  select * into w from collab.workflows x where x.id = s.workflow_id;
  if input is not null then
    perform collab._check_run_input(w, input);
  end if;
  next_tick := s.next_fire_at;
  if cron is not null or timezone is not null or (enabled and not s.enabled) then
    next_tick := collab._cron_next(coalesce(cron, s.cron), coalesce(timezone, s.timezone), now());
  end if;
  return query
    update collab.workflow_schedules u
       set cron = coalesce(btrim(update_schedule_v1.cron), u.cron),
           timezone = coalesce(update_schedule_v1.timezone, u.timezone),
           input = coalesce(update_schedule_v1.input, u.input),
           enabled = coalesce(update_schedule_v1.enabled, u.enabled),
           next_fire_at = next_tick, updated_at = now()
     where u.id = s.id
    returning u.*;
end
$$;

CREATE FUNCTION collab.update_workflow_v1(workflow_id uuid, name text DEFAULT NULL::text, description text DEFAULT NULL::text, definition jsonb DEFAULT NULL::jsonb, input_schema jsonb DEFAULT NULL::jsonb) RETURNS SETOF collab.workflows
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  w collab.workflows;
begin
  perform collab._check_workflow_fields(name, description, definition, input_schema);
  w := collab._lock_workflow(workflow_id, '{client,admin}', '{draft}', 'update');
  return query
    update collab.workflows u
       set name = coalesce(btrim(update_workflow_v1.name), u.name),
           description = coalesce(update_workflow_v1.description, u.description),
           definition = coalesce(update_workflow_v1.definition, u.definition),
           input_schema = case when update_workflow_v1.input_schema is null then u.input_schema
                               else nullif(update_workflow_v1.input_schema, 'null'::jsonb) end,
           updated_at = now()
     where u.id = w.id
    returning u.*;
end
$$;

CREATE FUNCTION collab.validate_definition_v1(executor_id text, definition jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  errors text[];
begin
  perform collab._check_name('executor_id', executor_id);
  if not collab._caller_can_see(executor_id) then
    perform collab._raise('CL403', format('not allowed: caller is not a member of executor %s', executor_id));
  end if;
  errors := collab._definition_errors(executor_id, definition);
  return jsonb_build_object('valid', cardinality(errors) = 0, 'errors', to_jsonb(errors));
end
$$;

CREATE FUNCTION collab.validate_workflow_v1(workflow_id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  w collab.workflows;
  errors text[];
begin
  select * into w from collab.workflows x where x.id = validate_workflow_v1.workflow_id;
  if not found or not collab._caller_can_see(w.executor_id) then
    perform collab._raise('CL404', format('workflow %s not found', workflow_id));
  end if;
  errors := collab._definition_errors(w.executor_id, w.definition);
  return jsonb_build_object('valid', cardinality(errors) = 0, 'errors', to_jsonb(errors));
end
$$;

CREATE FUNCTION collab.wait_for_jobs_v1(executor_id text) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  held text[] := coalesce(nullif(current_setting('collab.waiting_for', true), ''), '{}');
begin
  if executor_id is null or executor_id = '' then
    raise exception 'executor_id is required' using errcode = 'CL400';
  end if;
  if not executor_id = any (held) then
    perform pg_advisory_lock_shared(1668246640, hashtext(executor_id));
    perform set_config('collab.waiting_for', (held || executor_id)::text, false);
  end if;
  if pg_try_advisory_lock(1668246641, hashtext(executor_id)) then
    perform pg_advisory_unlock(1668246641, hashtext(executor_id));
    return true;
  end if;
  return false;
end
$$;

CREATE FUNCTION collab.webhook_secret_info_v1(workflow_id uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  w collab.workflows;
begin
  select * into w from collab.workflows x where x.id = webhook_secret_info_v1.workflow_id;
  if not found or not collab._caller_can_see(w.executor_id) then
    perform collab._raise('CL404', format('workflow %s not found', webhook_secret_info_v1.workflow_id));
  end if;
  return (select jsonb_build_object('workflow_id', x.workflow_id, 'fingerprint', x.fingerprint,
                                    'created_at', x.created_at)
            from collab.workflow_webhook_secrets x where x.workflow_id = w.id);
end
$$;

CREATE FUNCTION collab.webhook_start_run_v1(workflow_id uuid, body text, signature text, delivery_id text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $_$
declare
  w collab.workflows;
  key bytea;
  provided text;
  expected bytea;
  input jsonb;
begin
  provided := collab._webhook_secret(webhook_start_run_v1.workflow_id);
  if provided is null then
    perform collab._raise('CL404', format('no webhook for workflow %s', coalesce(webhook_start_run_v1.workflow_id::text, 'null')));
  end if;
  key := convert_to(provided, 'UTF8');
  if signature is null or btrim(signature) = '' then
    perform collab._raise('CL403', 'missing webhook signature: send the hex HMAC-SHA256 of the raw body');
  end if;
  provided := lower(regexp_replace(btrim(signature), '^sha256=', '', 'i'));
  if provided !~ '^[0-9a-f]+$' or char_length(provided) <> 64 then
    perform collab._raise('CL403', 'malformed webhook signature: expected 64 hex digits (optionally sha256=...)');
  end if;
  if octet_length(coalesce(body, '')) > 1048576 then
    perform collab._raise('CL413', 'webhook body is larger than 1048576 bytes');
  end if;
  expected := collab._hmac_sha256(key, convert_to(coalesce(body, ''), 'UTF8'));
  -- Compare HMACs of the two digests, not the digests: how long the comparison takes then
  -- says nothing about the expected signature (the attacker cannot predict either side).
  if collab._hmac_sha256(key, expected) <> collab._hmac_sha256(key, decode(provided, 'hex')) then
    perform collab._raise('CL403', 'webhook signature does not match the body');
  end if;

  if delivery_id is not null and char_length(delivery_id) not between 1 and 200 then
    perform collab._raise('CL400', 'delivery_id must be 1-200 characters');
  end if;
  begin
    input := coalesce(nullif(btrim(coalesce(body, '')), '')::jsonb, '{}'::jsonb);
  exception when others then
    perform collab._raise('CL400', 'webhook body is not JSON');
  end;
  if jsonb_typeof(input) <> 'object' then
    input := jsonb_build_object('body', input);
  end if;
  select * into w from collab.workflows x where x.id = webhook_start_run_v1.workflow_id;
  perform collab._check_run_input(w, input);
  return collab._start_run(w, input, 'webhook:' || delivery_id, 'webhook');
end
$_$;

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
  perform collab_private._check_range('within_seconds', within_seconds, 1, 86400);
  return query
    select * from collab.worker_heartbeats_v2 w
     where w.last_seen_at > now() - make_interval(secs => within_seconds)
       and w.status <> 'stopped'
       and (workers_active_v1.executor_id is null or w.executor_id = workers_active_v1.executor_id)
     order by w.last_seen_at desc, w.worker_id;
end
$$;

CREATE FUNCTION collab.workflows_v1(executor_id text DEFAULT NULL::text, status text DEFAULT NULL::text, page_size integer DEFAULT 20, cursor text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    SET plan_cache_mode TO 'force_custom_plan'
    AS $$
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
$$;

CREATE TABLE collab.idempotency_keys (
    executor_id text NOT NULL,
    scope text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    resource_id uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT idempotency_keys_key_check CHECK (((char_length(key) >= 1) AND (char_length(key) <= 255))),
    CONSTRAINT idempotency_keys_scope_check CHECK ((scope = ANY (ARRAY['workflow'::text, 'schedule'::text])))
);

COMMENT ON TABLE collab.idempotency_keys IS 'Idempotency keys of workflow and schedule creation: the resource each key made and its request hash';

CREATE TABLE collab.job_count_deltas (
    executor_id text NOT NULL,
    type text NOT NULL,
    status text NOT NULL,
    minute timestamp with time zone NOT NULL,
    n bigint NOT NULL
)
WITH (autovacuum_vacuum_threshold='500', autovacuum_vacuum_scale_factor='0');

COMMENT ON TABLE collab.job_count_deltas IS 'Net count changes appended by each statement on collab.jobs, not yet folded into job_counts';

CREATE TABLE collab.job_counts (
    executor_id text NOT NULL,
    type text NOT NULL,
    status text NOT NULL,
    minute timestamp with time zone NOT NULL,
    n bigint NOT NULL
);

COMMENT ON TABLE collab.job_counts IS 'Folded job counts by executor, type, status and finish minute (-infinity: not per minute); add job_count_deltas';

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

CREATE TABLE collab.retention_policies (
    executor_id text NOT NULL,
    succeeded_seconds integer DEFAULT 86400,
    failed_seconds integer DEFAULT 604800,
    cancelled_seconds integer DEFAULT 86400,
    dead_letter_seconds integer DEFAULT 604800,
    enabled boolean DEFAULT true NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT retention_policies_cancelled_seconds_check CHECK ((cancelled_seconds >= 0)),
    CONSTRAINT retention_policies_dead_letter_seconds_check CHECK ((dead_letter_seconds >= 0)),
    CONSTRAINT retention_policies_executor_id_check CHECK (((char_length(executor_id) >= 1) AND (char_length(executor_id) <= 200))),
    CONSTRAINT retention_policies_failed_seconds_check CHECK ((failed_seconds >= 0)),
    CONSTRAINT retention_policies_succeeded_seconds_check CHECK ((succeeded_seconds >= 0))
);

COMMENT ON TABLE collab.retention_policies IS 'How long each executor keeps finished jobs and dead letters (null: forever); no row: the defaults';

CREATE TABLE collab.retention_state (
    executor_id text NOT NULL,
    lease_owner text,
    lease_until timestamp with time zone,
    cursor jsonb,
    next_run_at timestamp with time zone DEFAULT now() NOT NULL,
    last_started_at timestamp with time zone,
    last_finished_at timestamp with time zone,
    last_purged bigint DEFAULT 0 NOT NULL
);

COMMENT ON TABLE collab.retention_state IS 'The retention lease and progress per executor (apply_retention_v1)';

ALTER TABLE collab.storage_deletions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME collab.storage_deletions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE collab.workflow_webhook_secrets (
    workflow_id uuid NOT NULL,
    executor_id text NOT NULL,
    fingerprint text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    vault_secret_id uuid,
    secret_encrypted bytea,
    cipher text,
    CONSTRAINT workflow_webhook_secrets_cipher_check CHECK ((cipher = ANY (ARRAY['pgp'::text, 'hmac-ctr'::text]))),
    CONSTRAINT workflow_webhook_secrets_stored CHECK ((((vault_secret_id IS NOT NULL) AND (secret_encrypted IS NULL) AND (cipher IS NULL)) OR ((vault_secret_id IS NULL) AND (secret_encrypted IS NOT NULL) AND (cipher IS NOT NULL))))
);

COMMENT ON TABLE collab.workflow_webhook_secrets IS 'Per-workflow webhook secrets, never in clear: a Supabase Vault id, or ciphertext (cipher pgp: pgcrypto; hmac-ctr: built in) under collab_private.secret_keys; read by SECURITY DEFINER functions only';

ALTER TABLE ONLY collab.artifacts
    ADD CONSTRAINT artifacts_bucket_path_key UNIQUE (bucket, path);

ALTER TABLE ONLY collab.artifacts
    ADD CONSTRAINT artifacts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY collab.executor_members
    ADD CONSTRAINT executor_members_pkey PRIMARY KEY (executor_id, user_id);

ALTER TABLE ONLY collab.idempotency_keys
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (executor_id, scope, key);

ALTER TABLE ONLY collab.job_counts
    ADD CONSTRAINT job_counts_pkey PRIMARY KEY (executor_id, type, status, minute);

ALTER TABLE ONLY collab.job_dead_letters
    ADD CONSTRAINT job_dead_letters_pkey PRIMARY KEY (id);

ALTER TABLE ONLY collab.job_events
    ADD CONSTRAINT job_events_pkey PRIMARY KEY (seq);

ALTER TABLE ONLY collab.jobs
    ADD CONSTRAINT jobs_pkey PRIMARY KEY (id);

ALTER TABLE ONLY collab.rate_limits
    ADD CONSTRAINT rate_limits_pkey PRIMARY KEY (bucket_key);

ALTER TABLE ONLY collab.retention_policies
    ADD CONSTRAINT retention_policies_pkey PRIMARY KEY (executor_id);

ALTER TABLE ONLY collab.retention_state
    ADD CONSTRAINT retention_state_pkey PRIMARY KEY (executor_id);

ALTER TABLE ONLY collab.step_types
    ADD CONSTRAINT step_types_pkey PRIMARY KEY (executor_id, name);

ALTER TABLE ONLY collab.storage_deletions
    ADD CONSTRAINT storage_deletions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY collab.worker_heartbeats_v2
    ADD CONSTRAINT worker_heartbeats_v2_pkey PRIMARY KEY (worker_id);

ALTER TABLE ONLY collab.workflow_runs
    ADD CONSTRAINT workflow_runs_pkey PRIMARY KEY (id);

ALTER TABLE ONLY collab.workflow_schedules
    ADD CONSTRAINT workflow_schedules_pkey PRIMARY KEY (id);

ALTER TABLE ONLY collab.workflow_step_runs
    ADD CONSTRAINT workflow_step_runs_pkey PRIMARY KEY (run_id, step_id);

ALTER TABLE ONLY collab.workflow_webhook_secrets
    ADD CONSTRAINT workflow_webhook_secrets_pkey PRIMARY KEY (workflow_id);

ALTER TABLE ONLY collab.workflows
    ADD CONSTRAINT workflows_pkey PRIMARY KEY (id);

CREATE INDEX artifacts_job_idx ON collab.artifacts USING btree (job_id, created_at);

CREATE INDEX executor_members_user_idx ON collab.executor_members USING btree (user_id, executor_id);

CREATE INDEX job_dead_letters_created_idx ON collab.job_dead_letters USING btree (created_at DESC, id DESC);

CREATE INDEX job_dead_letters_executor_idx ON collab.job_dead_letters USING btree (executor_id, created_at DESC, id DESC);

CREATE INDEX job_dead_letters_job_idx ON collab.job_dead_letters USING btree (job_id);

CREATE INDEX job_dead_letters_retried_job_idx ON collab.job_dead_letters USING btree (retried_job_id) WHERE (retried_job_id IS NOT NULL);

CREATE INDEX job_events_job_idx ON collab.job_events USING btree (job_id, seq);

CREATE INDEX job_events_run_idx ON collab.job_events USING btree (run_id, seq) WHERE (run_id IS NOT NULL);

CREATE INDEX jobs_claim_idx ON collab.jobs USING btree (executor_id, priority DESC, next_run_at, id) WHERE (status = ANY (ARRAY['queued'::text, 'running'::text]));

CREATE INDEX jobs_executor_created_idx ON collab.jobs USING btree (executor_id, created_at DESC, id DESC) WHERE (status <> 'running'::text);

CREATE INDEX jobs_exhausted_idx ON collab.jobs USING btree (executor_id, lease_until) WHERE ((lease_until IS NOT NULL) AND ((attempts)::integer >= (max_attempts)::integer));

CREATE INDEX jobs_finished_idx ON collab.jobs USING btree (finished_at) WHERE (finished_at IS NOT NULL);

CREATE UNIQUE INDEX jobs_idempotency_idx ON collab.jobs USING btree (executor_id, idempotency_key) WHERE (idempotency_key IS NOT NULL);

CREATE INDEX jobs_queue_order_idx ON collab.jobs USING btree (executor_id, status, priority DESC, created_at, id) WHERE (status <> 'running'::text);

CREATE INDEX jobs_running_idx ON collab.jobs USING btree (executor_id, created_at DESC, id DESC) WHERE (status = 'running'::text);

CREATE INDEX storage_deletions_executor_idx ON collab.storage_deletions USING btree (executor_id, id);

CREATE INDEX worker_heartbeats_executor_idx ON collab.worker_heartbeats_v2 USING btree (executor_id, last_seen_at DESC);

CREATE INDEX worker_heartbeats_seen_idx ON collab.worker_heartbeats_v2 USING btree (last_seen_at DESC);

CREATE INDEX workflow_runs_completed_idx ON collab.workflow_runs USING btree (completed_at, id) WHERE ((status)::text = ANY (ARRAY['succeeded'::text, 'failed'::text, 'cancelled'::text]));

CREATE INDEX workflow_runs_created_idx ON collab.workflow_runs USING btree (created_at DESC, id DESC);

CREATE INDEX workflow_runs_executor_created_idx ON collab.workflow_runs USING btree (executor_id, created_at DESC, id DESC);

CREATE UNIQUE INDEX workflow_runs_idempotency_idx ON collab.workflow_runs USING btree (workflow_id, idempotency_key) WHERE (idempotency_key IS NOT NULL);

CREATE INDEX workflow_runs_workflow_created_idx ON collab.workflow_runs USING btree (workflow_id, created_at DESC, id DESC);

CREATE INDEX workflow_schedules_due_idx ON collab.workflow_schedules USING btree (next_fire_at) WHERE enabled;

CREATE INDEX workflow_schedules_executor_idx ON collab.workflow_schedules USING btree (executor_id);

CREATE INDEX workflow_schedules_workflow_idx ON collab.workflow_schedules USING btree (workflow_id);

CREATE INDEX workflows_created_idx ON collab.workflows USING btree (created_at DESC, id DESC);

CREATE INDEX workflows_executor_created_idx ON collab.workflows USING btree (executor_id, created_at DESC, id DESC);

CREATE INDEX workflows_parent_idx ON collab.workflows USING btree (parent_id) WHERE (parent_id IS NOT NULL);

CREATE TRIGGER artifacts_list_deleted AFTER DELETE ON collab.artifacts FOR EACH ROW EXECUTE FUNCTION collab._artifacts_list_deleted();

CREATE TRIGGER job_dead_letters_refuse_step_retry BEFORE UPDATE ON collab.job_dead_letters FOR EACH ROW WHEN (((old.retried_at IS NULL) AND (new.retried_at IS NOT NULL) AND (old.job_id IS NOT NULL))) EXECUTE FUNCTION collab._refuse_step_dead_letter_retry();

CREATE TRIGGER job_events_notify AFTER INSERT ON collab.job_events REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT WHEN (collab._event_listeners_present()) EXECUTE FUNCTION collab._job_events_notify();

CREATE TRIGGER job_events_take_xid BEFORE INSERT ON collab.job_events FOR EACH STATEMENT WHEN ((pg_current_xact_id_if_assigned() IS NULL)) EXECUTE FUNCTION collab._job_events_take_xid();

CREATE TRIGGER jobs_after_insert AFTER INSERT ON collab.jobs REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION collab._jobs_after_insert();

CREATE TRIGGER jobs_after_update AFTER UPDATE ON collab.jobs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION collab._jobs_after_update();

CREATE TRIGGER jobs_count_delete AFTER DELETE ON collab.jobs REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION collab._jobs_count_changes();

CREATE TRIGGER jobs_count_truncate AFTER TRUNCATE ON collab.jobs FOR EACH STATEMENT EXECUTE FUNCTION collab._jobs_count_truncate();

CREATE TRIGGER jobs_workflow_after_update AFTER UPDATE ON collab.jobs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT WHEN ((current_setting('collab.workflow_jobs'::text, true) = 'on'::text)) EXECUTE FUNCTION collab._jobs_workflow_after_update();

CREATE TRIGGER jobs_workflow_before_delete BEFORE DELETE ON collab.jobs FOR EACH ROW WHEN (((old.workflow_run_id IS NOT NULL) AND (old.status = ANY (ARRAY['queued'::text, 'running'::text])))) EXECUTE FUNCTION collab._jobs_workflow_before_delete();

CREATE TRIGGER jobs_workflow_before_update BEFORE UPDATE ON collab.jobs FOR EACH ROW WHEN (((old.workflow_run_id IS NOT NULL) OR (new.workflow_run_id IS NOT NULL))) EXECUTE FUNCTION collab._jobs_workflow_before_update();

CREATE TRIGGER webhook_secrets_after_delete AFTER DELETE ON collab.workflow_webhook_secrets FOR EACH ROW WHEN ((old.vault_secret_id IS NOT NULL)) EXECUTE FUNCTION collab._webhook_secrets_after_delete();

ALTER TABLE ONLY collab.artifacts
    ADD CONSTRAINT artifacts_job_id_fkey FOREIGN KEY (job_id) REFERENCES collab.jobs(id) ON DELETE CASCADE;

ALTER TABLE ONLY collab.job_dead_letters
    ADD CONSTRAINT job_dead_letters_job_id_fkey FOREIGN KEY (job_id) REFERENCES collab.jobs(id) ON DELETE SET NULL;

ALTER TABLE ONLY collab.job_dead_letters
    ADD CONSTRAINT job_dead_letters_retried_job_id_fkey FOREIGN KEY (retried_job_id) REFERENCES collab.jobs(id) ON DELETE SET NULL;

ALTER TABLE ONLY collab.workflow_runs
    ADD CONSTRAINT workflow_runs_workflow_id_fkey FOREIGN KEY (workflow_id) REFERENCES collab.workflows(id);

ALTER TABLE ONLY collab.workflow_schedules
    ADD CONSTRAINT workflow_schedules_workflow_id_fkey FOREIGN KEY (workflow_id) REFERENCES collab.workflows(id) ON DELETE CASCADE;

ALTER TABLE ONLY collab.workflow_step_runs
    ADD CONSTRAINT workflow_step_runs_run_id_fkey FOREIGN KEY (run_id) REFERENCES collab.workflow_runs(id) ON DELETE CASCADE;

ALTER TABLE ONLY collab.workflow_webhook_secrets
    ADD CONSTRAINT workflow_webhook_secrets_workflow_id_fkey FOREIGN KEY (workflow_id) REFERENCES collab.workflows(id) ON DELETE CASCADE;

ALTER TABLE ONLY collab.workflows
    ADD CONSTRAINT workflows_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES collab.workflows(id) ON DELETE SET NULL;

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

ALTER TABLE collab.idempotency_keys ENABLE ROW LEVEL SECURITY;

CREATE POLICY idempotency_keys_service ON collab.idempotency_keys TO service_role USING (true) WITH CHECK (true);

ALTER TABLE collab.job_count_deltas ENABLE ROW LEVEL SECURITY;

CREATE POLICY job_count_deltas_read_member ON collab.job_count_deltas FOR SELECT TO authenticated USING ((executor_id IN ( SELECT m.executor_id
   FROM collab.executor_members m
  WHERE (m.user_id = ( SELECT auth.uid() AS uid)))));

ALTER TABLE collab.job_counts ENABLE ROW LEVEL SECURITY;

CREATE POLICY job_counts_read_member ON collab.job_counts FOR SELECT TO authenticated USING ((executor_id IN ( SELECT m.executor_id
   FROM collab.executor_members m
  WHERE (m.user_id = ( SELECT auth.uid() AS uid)))));

ALTER TABLE collab.job_dead_letters ENABLE ROW LEVEL SECURITY;

ALTER TABLE collab.job_events ENABLE ROW LEVEL SECURITY;

CREATE POLICY job_events_read_member ON collab.job_events FOR SELECT TO authenticated USING ((executor_id IN ( SELECT m.executor_id
   FROM collab.executor_members m
  WHERE (m.user_id = ( SELECT auth.uid() AS uid)))));

ALTER TABLE collab.jobs ENABLE ROW LEVEL SECURITY;

CREATE POLICY jobs_read_member ON collab.jobs FOR SELECT TO authenticated USING (((executor_id)::text IN ( SELECT m.executor_id
   FROM collab.executor_members m
  WHERE (m.user_id = ( SELECT auth.uid() AS uid)))));

CREATE POLICY members_read_own ON collab.executor_members FOR SELECT TO authenticated USING ((user_id = ( SELECT auth.uid() AS uid)));

ALTER TABLE collab.rate_limits ENABLE ROW LEVEL SECURITY;

CREATE POLICY rate_limits_service ON collab.rate_limits TO service_role USING (true) WITH CHECK (true);

ALTER TABLE collab.retention_policies ENABLE ROW LEVEL SECURITY;

CREATE POLICY retention_policies_read_member ON collab.retention_policies FOR SELECT TO authenticated USING ((executor_id IN ( SELECT m.executor_id
   FROM collab.executor_members m
  WHERE (m.user_id = ( SELECT auth.uid() AS uid)))));

ALTER TABLE collab.retention_state ENABLE ROW LEVEL SECURITY;

CREATE POLICY retention_state_read_member ON collab.retention_state FOR SELECT TO authenticated USING ((executor_id IN ( SELECT m.executor_id
   FROM collab.executor_members m
  WHERE (m.user_id = ( SELECT auth.uid() AS uid)))));

ALTER TABLE collab.step_types ENABLE ROW LEVEL SECURITY;

CREATE POLICY step_types_read_member ON collab.step_types FOR SELECT TO authenticated USING (((executor_id = '*'::text) OR (executor_id IN ( SELECT m.executor_id
   FROM collab.executor_members m
  WHERE (m.user_id = ( SELECT auth.uid() AS uid))))));

ALTER TABLE collab.storage_deletions ENABLE ROW LEVEL SECURITY;

CREATE POLICY storage_deletions_read_member ON collab.storage_deletions FOR SELECT TO authenticated USING ((executor_id IN ( SELECT m.executor_id
   FROM collab.executor_members m
  WHERE (m.user_id = ( SELECT auth.uid() AS uid)))));

CREATE POLICY webhook_secrets_owner_only ON collab.workflow_webhook_secrets FOR SELECT TO service_role USING (false);

ALTER TABLE collab.worker_heartbeats_v2 ENABLE ROW LEVEL SECURITY;

ALTER TABLE collab.workflow_runs ENABLE ROW LEVEL SECURITY;

CREATE POLICY workflow_runs_read_member ON collab.workflow_runs FOR SELECT TO authenticated USING ((executor_id IN ( SELECT m.executor_id
   FROM collab.executor_members m
  WHERE (m.user_id = ( SELECT auth.uid() AS uid)))));

ALTER TABLE collab.workflow_schedules ENABLE ROW LEVEL SECURITY;

CREATE POLICY workflow_schedules_read_member ON collab.workflow_schedules FOR SELECT TO authenticated USING ((executor_id IN ( SELECT m.executor_id
   FROM collab.executor_members m
  WHERE (m.user_id = ( SELECT auth.uid() AS uid)))));

ALTER TABLE collab.workflow_step_runs ENABLE ROW LEVEL SECURITY;

CREATE POLICY workflow_step_runs_read_member ON collab.workflow_step_runs FOR SELECT TO authenticated USING ((executor_id IN ( SELECT m.executor_id
   FROM collab.executor_members m
  WHERE (m.user_id = ( SELECT auth.uid() AS uid)))));

ALTER TABLE collab.workflow_webhook_secrets ENABLE ROW LEVEL SECURITY;

ALTER TABLE collab.workflows ENABLE ROW LEVEL SECURITY;

CREATE POLICY workflows_read_member ON collab.workflows FOR SELECT TO authenticated USING ((executor_id IN ( SELECT m.executor_id
   FROM collab.executor_members m
  WHERE (m.user_id = ( SELECT auth.uid() AS uid)))));

GRANT USAGE ON SCHEMA collab TO anon;
GRANT USAGE ON SCHEMA collab TO authenticated;
GRANT USAGE ON SCHEMA collab TO service_role;

REVOKE ALL ON FUNCTION collab._advance_run(run_id uuid) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._artifacts_list_deleted() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._bulk_match(executor_id text, job_ids uuid[], statuses text[], type text) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._caller_can_see(executor_id text) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._caller_is_trusted() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._check_name(what text, value text) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._check_purge_arguments(older_than_seconds integer, executor_id text, statuses text[], batch_size integer, cursor jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._check_range(what text, value integer, lo integer, hi integer) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._check_range(what text, value integer, lo integer, hi integer) TO service_role;

GRANT SELECT ON TABLE collab.workflows TO authenticated;
GRANT ALL ON TABLE collab.workflows TO service_role;

REVOKE ALL ON FUNCTION collab._check_run_input(w collab.workflows, input jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._check_size(what text, value jsonb, max_bytes integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._check_workflow_fields(name text, description text, definition jsonb, input_schema jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._claim_idempotency_key(executor_id text, scope text, key text, request_hash text) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._cron_field(field text, what text, lo integer, hi integer, names text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._cron_field(field text, what text, lo integer, hi integer, names text[]) TO service_role;

REVOKE ALL ON FUNCTION collab._cron_next(expr text, tz text, after timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._cron_next(expr text, tz text, after timestamp with time zone) TO service_role;

REVOKE ALL ON FUNCTION collab._cursor_decode(cursor text, OUT ts timestamp with time zone, OUT id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._cursor_decode(cursor text, OUT ts timestamp with time zone, OUT id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab._cursor_encode(ts timestamp with time zone, id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._cursor_encode(ts timestamp with time zone, id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab._definition_errors(executor_id text, definition jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._event_horizon(after_seq bigint, horizon_seq bigint, horizon_xid xid8, OUT safe_seq bigint, OUT next_horizon_seq bigint, OUT next_horizon_xid xid8) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._event_horizon(after_seq bigint, horizon_seq bigint, horizon_xid xid8, OUT safe_seq bigint, OUT next_horizon_seq bigint, OUT next_horizon_xid xid8) TO service_role;

REVOKE ALL ON FUNCTION collab._event_listeners_present() FROM PUBLIC;
GRANT ALL ON FUNCTION collab._event_listeners_present() TO service_role;

REVOKE ALL ON FUNCTION collab._fold_job_counts() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._hint_event_readers(executor_ids text[], job_ids text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._hint_event_readers(executor_ids text[], job_ids text[]) TO service_role;

REVOKE ALL ON FUNCTION collab._hmac_sha256(key bytea, message bytea) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._input_errors(schema jsonb, input jsonb) FROM PUBLIC;

GRANT SELECT ON TABLE collab.jobs TO authenticated;
GRANT ALL ON TABLE collab.jobs TO service_role;

REVOKE ALL ON FUNCTION collab._insert_artifacts(j collab.jobs, artifacts jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._is_step_id(value text) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._job_events_notify() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._job_events_take_xid() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._jobs_after_insert() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._jobs_after_update() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._jobs_count_changes() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._jobs_count_truncate() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._jobs_workflow_after_update() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._jobs_workflow_before_delete() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._jobs_workflow_before_update() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._lock_job(job_id uuid, roles text[], allowed_statuses text[], verb text) FROM PUBLIC;

GRANT SELECT ON TABLE collab.workflow_runs TO authenticated;
GRANT ALL ON TABLE collab.workflow_runs TO service_role;

REVOKE ALL ON FUNCTION collab._lock_run(run_id uuid, roles text[], allowed_statuses text[], verb text) FROM PUBLIC;

GRANT SELECT ON TABLE collab.workflow_schedules TO authenticated;
GRANT ALL ON TABLE collab.workflow_schedules TO service_role;

REVOKE ALL ON FUNCTION collab._lock_schedule(schedule_id uuid, roles text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._lock_workflow(workflow_id uuid, roles text[], allowed_statuses text[], verb text) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._notify_claimable(executor_ids text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._notify_claimable(executor_ids text[]) TO service_role;

REVOKE ALL ON FUNCTION collab._notify_waiting_workers(executor_ids text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._notify_waiting_workers(executor_ids text[]) TO service_role;

REVOKE ALL ON FUNCTION collab._page(rows jsonb, n integer, page_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._page(rows jsonb, n integer, page_size integer) TO service_role;

REVOKE ALL ON FUNCTION collab._purge_dead_letters_batch(of_executor text, before timestamp with time zone, batch_size integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._purge_jobs_batch(of_executor text, succeeded_before timestamp with time zone, failed_before timestamp with time zone, cancelled_before timestamp with time zone, batch_size integer, after jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._raise(code text, message text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._raise(code text, message text) TO service_role;

REVOKE ALL ON FUNCTION collab._refuse_step_dead_letter_retry() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._remember_idempotency_key(executor_id text, scope text, key text, resource_id uuid) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._require_lease(j collab.jobs, worker_id text, attempt integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._require_member(executor_id text, roles text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._require_visible_job(job_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._require_visible_job(job_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab._require_visible_run(run_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._require_visible_run(run_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab._require_visible_workflow(workflow_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab._require_visible_workflow(workflow_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab._retention_policy(of_executor text) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._retry_backoff_seconds(attempt integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._run_event(r collab.workflow_runs, event_type text, payload jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._set_run_status(run_id uuid, status text, error text) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._start_run(w collab.workflows, input jsonb, idempotency_key text, trigger_type text, schedule_id uuid) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._stop_run(run_id uuid, status text, error text) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._store_webhook_secret(workflow_id uuid, executor_id text, secret text) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._webhook_secret(workflow_id uuid) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._webhook_secrets_after_delete() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._xid_upper_bound() FROM PUBLIC;

REVOKE ALL ON FUNCTION collab._xids_settled(xid xid8) FROM PUBLIC;

REVOKE ALL ON FUNCTION collab.ack_storage_deletions_v1(ids bigint[]) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.ack_storage_deletions_v1(ids bigint[]) TO authenticated;
GRANT ALL ON FUNCTION collab.ack_storage_deletions_v1(ids bigint[]) TO service_role;

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

REVOKE ALL ON FUNCTION collab.apply_retention_v1(executor_id text, worker_id text, batch_size integer, lease_seconds integer, interval_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.apply_retention_v1(executor_id text, worker_id text, batch_size integer, lease_seconds integer, interval_seconds integer) TO authenticated;
GRANT ALL ON FUNCTION collab.apply_retention_v1(executor_id text, worker_id text, batch_size integer, lease_seconds integer, interval_seconds integer) TO service_role;

REVOKE ALL ON FUNCTION collab.archive_workflow_v1(workflow_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.archive_workflow_v1(workflow_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.archive_workflow_v1(workflow_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.artifacts_by_job_v1(job_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.artifacts_by_job_v1(job_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.artifacts_by_job_v1(job_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.assign_job_v1(type text, executor_id text, payload jsonb, idempotency_key text, priority integer, max_attempts integer, run_at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.assign_job_v1(type text, executor_id text, payload jsonb, idempotency_key text, priority integer, max_attempts integer, run_at timestamp with time zone) TO authenticated;
GRANT ALL ON FUNCTION collab.assign_job_v1(type text, executor_id text, payload jsonb, idempotency_key text, priority integer, max_attempts integer, run_at timestamp with time zone) TO service_role;

REVOKE ALL ON FUNCTION collab.assign_job_v2(type text, executor_id text, payload jsonb, idempotency_key text, priority integer, max_attempts integer, run_at timestamp with time zone, trace_context jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.assign_job_v2(type text, executor_id text, payload jsonb, idempotency_key text, priority integer, max_attempts integer, run_at timestamp with time zone, trace_context jsonb) TO authenticated;
GRANT ALL ON FUNCTION collab.assign_job_v2(type text, executor_id text, payload jsonb, idempotency_key text, priority integer, max_attempts integer, run_at timestamp with time zone, trace_context jsonb) TO service_role;

REVOKE ALL ON FUNCTION collab.assign_jobs_v1(jobs jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.assign_jobs_v1(jobs jsonb) TO authenticated;
GRANT ALL ON FUNCTION collab.assign_jobs_v1(jobs jsonb) TO service_role;

REVOKE ALL ON FUNCTION collab.assign_jobs_v2(jobs jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.assign_jobs_v2(jobs jsonb) TO authenticated;
GRANT ALL ON FUNCTION collab.assign_jobs_v2(jobs jsonb) TO service_role;

REVOKE ALL ON FUNCTION collab.cancel_job_v1(job_id uuid, reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.cancel_job_v1(job_id uuid, reason text) TO authenticated;
GRANT ALL ON FUNCTION collab.cancel_job_v1(job_id uuid, reason text) TO service_role;

REVOKE ALL ON FUNCTION collab.cancel_run_v1(run_id uuid, reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.cancel_run_v1(run_id uuid, reason text) TO authenticated;
GRANT ALL ON FUNCTION collab.cancel_run_v1(run_id uuid, reason text) TO service_role;

REVOKE ALL ON FUNCTION collab.claim_jobs_v1(executor_id text, worker_id text, lease_seconds integer, max_jobs integer, type_prefixes text[], types text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.claim_jobs_v1(executor_id text, worker_id text, lease_seconds integer, max_jobs integer, type_prefixes text[], types text[]) TO authenticated;
GRANT ALL ON FUNCTION collab.claim_jobs_v1(executor_id text, worker_id text, lease_seconds integer, max_jobs integer, type_prefixes text[], types text[]) TO service_role;

REVOKE ALL ON FUNCTION collab.claim_jobs_v2(executor_id text, worker_id text, lease_seconds integer, max_jobs integer, type_prefixes text[], types text[], alone boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.claim_jobs_v2(executor_id text, worker_id text, lease_seconds integer, max_jobs integer, type_prefixes text[], types text[], alone boolean) TO authenticated;
GRANT ALL ON FUNCTION collab.claim_jobs_v2(executor_id text, worker_id text, lease_seconds integer, max_jobs integer, type_prefixes text[], types text[], alone boolean) TO service_role;

REVOKE ALL ON FUNCTION collab.claim_one_job_v3(executor_id text, worker_id text, lease_seconds integer, type_prefix text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.claim_one_job_v3(executor_id text, worker_id text, lease_seconds integer, type_prefix text) TO authenticated;
GRANT ALL ON FUNCTION collab.claim_one_job_v3(executor_id text, worker_id text, lease_seconds integer, type_prefix text) TO service_role;

REVOKE ALL ON FUNCTION collab.complete_and_claim_jobs_v1(executor_id text, worker_id text, completions jsonb, max_jobs integer, lease_seconds integer, type_prefixes text[], types text[], alone boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.complete_and_claim_jobs_v1(executor_id text, worker_id text, completions jsonb, max_jobs integer, lease_seconds integer, type_prefixes text[], types text[], alone boolean) TO authenticated;
GRANT ALL ON FUNCTION collab.complete_and_claim_jobs_v1(executor_id text, worker_id text, completions jsonb, max_jobs integer, lease_seconds integer, type_prefixes text[], types text[], alone boolean) TO service_role;

REVOKE ALL ON FUNCTION collab.complete_and_claim_v1(job_id uuid, worker_id text, executor_id text, result jsonb, artifacts jsonb, attempt integer, lease_seconds integer, type_prefix text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.complete_and_claim_v1(job_id uuid, worker_id text, executor_id text, result jsonb, artifacts jsonb, attempt integer, lease_seconds integer, type_prefix text) TO authenticated;
GRANT ALL ON FUNCTION collab.complete_and_claim_v1(job_id uuid, worker_id text, executor_id text, result jsonb, artifacts jsonb, attempt integer, lease_seconds integer, type_prefix text) TO service_role;

REVOKE ALL ON FUNCTION collab.complete_job_v1(job_id uuid, worker_id text, result jsonb, artifacts jsonb, attempt integer) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.complete_job_v1(job_id uuid, worker_id text, result jsonb, artifacts jsonb, attempt integer) TO authenticated;
GRANT ALL ON FUNCTION collab.complete_job_v1(job_id uuid, worker_id text, result jsonb, artifacts jsonb, attempt integer) TO service_role;

REVOKE ALL ON FUNCTION collab.complete_jobs_v1(worker_id text, completions jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.complete_jobs_v1(worker_id text, completions jsonb) TO authenticated;
GRANT ALL ON FUNCTION collab.complete_jobs_v1(worker_id text, completions jsonb) TO service_role;

REVOKE ALL ON FUNCTION collab.create_schedule_v1(workflow_id uuid, cron text, timezone text, input jsonb, enabled boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.create_schedule_v1(workflow_id uuid, cron text, timezone text, input jsonb, enabled boolean) TO authenticated;
GRANT ALL ON FUNCTION collab.create_schedule_v1(workflow_id uuid, cron text, timezone text, input jsonb, enabled boolean) TO service_role;

REVOKE ALL ON FUNCTION collab.create_schedule_v2(workflow_id uuid, cron text, timezone text, input jsonb, enabled boolean, idempotency_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.create_schedule_v2(workflow_id uuid, cron text, timezone text, input jsonb, enabled boolean, idempotency_key text) TO authenticated;
GRANT ALL ON FUNCTION collab.create_schedule_v2(workflow_id uuid, cron text, timezone text, input jsonb, enabled boolean, idempotency_key text) TO service_role;

REVOKE ALL ON FUNCTION collab.create_webhook_secret_v1(workflow_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.create_webhook_secret_v1(workflow_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.create_webhook_secret_v1(workflow_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.create_workflow_v1(executor_id text, name text, description text, definition jsonb, input_schema jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.create_workflow_v1(executor_id text, name text, description text, definition jsonb, input_schema jsonb) TO authenticated;
GRANT ALL ON FUNCTION collab.create_workflow_v1(executor_id text, name text, description text, definition jsonb, input_schema jsonb) TO service_role;

REVOKE ALL ON FUNCTION collab.create_workflow_v2(executor_id text, name text, description text, definition jsonb, input_schema jsonb, idempotency_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.create_workflow_v2(executor_id text, name text, description text, definition jsonb, input_schema jsonb, idempotency_key text) TO authenticated;
GRANT ALL ON FUNCTION collab.create_workflow_v2(executor_id text, name text, description text, definition jsonb, input_schema jsonb, idempotency_key text) TO service_role;

REVOKE ALL ON FUNCTION collab.cron_next_v1(cron text, timezone text, after timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.cron_next_v1(cron text, timezone text, after timestamp with time zone) TO authenticated;
GRANT ALL ON FUNCTION collab.cron_next_v1(cron text, timezone text, after timestamp with time zone) TO service_role;

REVOKE ALL ON FUNCTION collab.delete_job_v1(job_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.delete_job_v1(job_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.delete_job_v1(job_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.delete_schedule_v1(schedule_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.delete_schedule_v1(schedule_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.delete_schedule_v1(schedule_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.delete_webhook_secret_v1(workflow_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.delete_webhook_secret_v1(workflow_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.delete_webhook_secret_v1(workflow_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.delete_workflow_v1(workflow_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.delete_workflow_v1(workflow_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.delete_workflow_v1(workflow_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.dlq_list_v1(executor_id text, page_size integer, cursor text, include_retried boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.dlq_list_v1(executor_id text, page_size integer, cursor text, include_retried boolean) TO authenticated;
GRANT ALL ON FUNCTION collab.dlq_list_v1(executor_id text, page_size integer, cursor text, include_retried boolean) TO service_role;

REVOKE ALL ON FUNCTION collab.dlq_retry_v1(dead_letter_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.dlq_retry_v1(dead_letter_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.dlq_retry_v1(dead_letter_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.duplicate_workflow_v1(workflow_id uuid, name text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.duplicate_workflow_v1(workflow_id uuid, name text) TO authenticated;
GRANT ALL ON FUNCTION collab.duplicate_workflow_v1(workflow_id uuid, name text) TO service_role;

REVOKE ALL ON FUNCTION collab.duplicate_workflow_v2(workflow_id uuid, name text, idempotency_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.duplicate_workflow_v2(workflow_id uuid, name text, idempotency_key text) TO authenticated;
GRANT ALL ON FUNCTION collab.duplicate_workflow_v2(workflow_id uuid, name text, idempotency_key text) TO service_role;

REVOKE ALL ON FUNCTION collab.events_by_job_v1(job_id uuid, after_seq bigint, page_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.events_by_job_v1(job_id uuid, after_seq bigint, page_size integer) TO authenticated;
GRANT ALL ON FUNCTION collab.events_by_job_v1(job_id uuid, after_seq bigint, page_size integer) TO service_role;

REVOKE ALL ON FUNCTION collab.executor_members_v1(executor_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.executor_members_v1(executor_id text) TO authenticated;
GRANT ALL ON FUNCTION collab.executor_members_v1(executor_id text) TO service_role;

REVOKE ALL ON FUNCTION collab.extend_lease_v1(job_id uuid, worker_id text, lease_seconds integer, attempt integer) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.extend_lease_v1(job_id uuid, worker_id text, lease_seconds integer, attempt integer) TO authenticated;
GRANT ALL ON FUNCTION collab.extend_lease_v1(job_id uuid, worker_id text, lease_seconds integer, attempt integer) TO service_role;

REVOKE ALL ON FUNCTION collab.fail_job_v1(job_id uuid, worker_id text, error text, retryable boolean, retry_delay_seconds integer, attempt integer) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.fail_job_v1(job_id uuid, worker_id text, error text, retryable boolean, retry_delay_seconds integer, attempt integer) TO authenticated;
GRANT ALL ON FUNCTION collab.fail_job_v1(job_id uuid, worker_id text, error text, retryable boolean, retry_delay_seconds integer, attempt integer) TO service_role;

REVOKE ALL ON FUNCTION collab.fire_due_schedules_v1(executor_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.fire_due_schedules_v1(executor_id text) TO authenticated;
GRANT ALL ON FUNCTION collab.fire_due_schedules_v1(executor_id text) TO service_role;

REVOKE ALL ON FUNCTION collab.get_job_v1(job_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.get_job_v1(job_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.get_job_v1(job_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.get_run_v1(run_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.get_run_v1(run_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.get_run_v1(run_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.get_workflow_v1(workflow_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.get_workflow_v1(workflow_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.get_workflow_v1(workflow_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.install_cron_v1() FROM PUBLIC;
GRANT ALL ON FUNCTION collab.install_cron_v1() TO authenticated;
GRANT ALL ON FUNCTION collab.install_cron_v1() TO service_role;

REVOKE ALL ON FUNCTION collab.job_events_after_v1(after_seq bigint, job_id uuid, executor_id text, page_size integer, horizon_seq bigint, horizon_xid text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.job_events_after_v1(after_seq bigint, job_id uuid, executor_id text, page_size integer, horizon_seq bigint, horizon_xid text) TO authenticated;
GRANT ALL ON FUNCTION collab.job_events_after_v1(after_seq bigint, job_id uuid, executor_id text, page_size integer, horizon_seq bigint, horizon_xid text) TO service_role;

REVOKE ALL ON FUNCTION collab.job_events_head_v1() FROM PUBLIC;
GRANT ALL ON FUNCTION collab.job_events_head_v1() TO authenticated;
GRANT ALL ON FUNCTION collab.job_events_head_v1() TO service_role;

REVOKE ALL ON FUNCTION collab.job_summary_v1(job_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.job_summary_v1(job_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.job_summary_v1(job_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.jobs_bulk_v1(action text, executor_id text, job_ids uuid[], statuses text[], type text, reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.jobs_bulk_v1(action text, executor_id text, job_ids uuid[], statuses text[], type text, reason text) TO authenticated;
GRANT ALL ON FUNCTION collab.jobs_bulk_v1(action text, executor_id text, job_ids uuid[], statuses text[], type text, reason text) TO service_role;

REVOKE ALL ON FUNCTION collab.jobs_list_after_v1(executor_id text, statuses text[], type text, page_size integer, after_priority integer, after_created_at timestamp with time zone, after_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.jobs_list_after_v1(executor_id text, statuses text[], type text, page_size integer, after_priority integer, after_created_at timestamp with time zone, after_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.jobs_list_after_v1(executor_id text, statuses text[], type text, page_size integer, after_priority integer, after_created_at timestamp with time zone, after_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.jobs_list_v1(executor_id text, statuses text[], type text, page_size integer, page_offset integer) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.jobs_list_v1(executor_id text, statuses text[], type text, page_size integer, page_offset integer) TO authenticated;
GRANT ALL ON FUNCTION collab.jobs_list_v1(executor_id text, statuses text[], type text, page_size integer, page_offset integer) TO service_role;

REVOKE ALL ON FUNCTION collab.jobs_recent_v1(executor_id text, status text, type text, page_size integer, cursor text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.jobs_recent_v1(executor_id text, status text, type text, page_size integer, cursor text) TO authenticated;
GRANT ALL ON FUNCTION collab.jobs_recent_v1(executor_id text, status text, type text, page_size integer, cursor text) TO service_role;

REVOKE ALL ON FUNCTION collab.metrics_by_executor_v1() FROM PUBLIC;
GRANT ALL ON FUNCTION collab.metrics_by_executor_v1() TO authenticated;
GRANT ALL ON FUNCTION collab.metrics_by_executor_v1() TO service_role;

REVOKE ALL ON FUNCTION collab.metrics_overview_v1(executor_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.metrics_overview_v1(executor_id text) TO authenticated;
GRANT ALL ON FUNCTION collab.metrics_overview_v1(executor_id text) TO service_role;

REVOKE ALL ON FUNCTION collab.my_executors_v1() FROM PUBLIC;
GRANT ALL ON FUNCTION collab.my_executors_v1() TO authenticated;
GRANT ALL ON FUNCTION collab.my_executors_v1() TO service_role;

REVOKE ALL ON FUNCTION collab.publish_workflow_v1(workflow_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.publish_workflow_v1(workflow_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.publish_workflow_v1(workflow_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.purge_jobs_batch_v1(older_than_seconds integer, executor_id text, statuses text[], batch_size integer, cursor jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.purge_jobs_batch_v1(older_than_seconds integer, executor_id text, statuses text[], batch_size integer, cursor jsonb) TO authenticated;
GRANT ALL ON FUNCTION collab.purge_jobs_batch_v1(older_than_seconds integer, executor_id text, statuses text[], batch_size integer, cursor jsonb) TO service_role;

REVOKE ALL ON FUNCTION collab.purge_jobs_v1(older_than_seconds integer, executor_id text, statuses text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.purge_jobs_v1(older_than_seconds integer, executor_id text, statuses text[]) TO authenticated;
GRANT ALL ON FUNCTION collab.purge_jobs_v1(older_than_seconds integer, executor_id text, statuses text[]) TO service_role;

REVOKE ALL ON FUNCTION collab.purge_runs_batch_v1(older_than_seconds integer, executor_id text, statuses text[], batch_size integer, cursor jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.purge_runs_batch_v1(older_than_seconds integer, executor_id text, statuses text[], batch_size integer, cursor jsonb) TO authenticated;
GRANT ALL ON FUNCTION collab.purge_runs_batch_v1(older_than_seconds integer, executor_id text, statuses text[], batch_size integer, cursor jsonb) TO service_role;

REVOKE ALL ON FUNCTION collab.rate_limit_hit_v1(key text, "limit" integer, window_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.rate_limit_hit_v1(key text, "limit" integer, window_seconds integer) TO authenticated;
GRANT ALL ON FUNCTION collab.rate_limit_hit_v1(key text, "limit" integer, window_seconds integer) TO service_role;

REVOKE ALL ON FUNCTION collab.rate_limit_prune_v1() FROM PUBLIC;
GRANT ALL ON FUNCTION collab.rate_limit_prune_v1() TO authenticated;
GRANT ALL ON FUNCTION collab.rate_limit_prune_v1() TO service_role;

GRANT SELECT ON TABLE collab.step_types TO authenticated;
GRANT ALL ON TABLE collab.step_types TO service_role;

REVOKE ALL ON FUNCTION collab.register_step_types_v1(executor_id text, step_types jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.register_step_types_v1(executor_id text, step_types jsonb) TO authenticated;
GRANT ALL ON FUNCTION collab.register_step_types_v1(executor_id text, step_types jsonb) TO service_role;

REVOKE ALL ON FUNCTION collab.remove_executor_member_v1(executor_id text, user_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.remove_executor_member_v1(executor_id text, user_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.remove_executor_member_v1(executor_id text, user_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.resume_run_v1(run_id uuid, step_id text, data jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.resume_run_v1(run_id uuid, step_id text, data jsonb) TO authenticated;
GRANT ALL ON FUNCTION collab.resume_run_v1(run_id uuid, step_id text, data jsonb) TO service_role;

REVOKE ALL ON FUNCTION collab.retention_policy_v1(executor_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.retention_policy_v1(executor_id text) TO authenticated;
GRANT ALL ON FUNCTION collab.retention_policy_v1(executor_id text) TO service_role;

REVOKE ALL ON FUNCTION collab.retry_job_v1(job_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.retry_job_v1(job_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.retry_job_v1(job_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.retry_run_v1(run_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.retry_run_v1(run_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.retry_run_v1(run_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.run_events_after_v1(run_id uuid, after_seq bigint, page_size integer, horizon_seq bigint, horizon_xid text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.run_events_after_v1(run_id uuid, after_seq bigint, page_size integer, horizon_seq bigint, horizon_xid text) TO authenticated;
GRANT ALL ON FUNCTION collab.run_events_after_v1(run_id uuid, after_seq bigint, page_size integer, horizon_seq bigint, horizon_xid text) TO service_role;

REVOKE ALL ON FUNCTION collab.run_snapshot_v1(run_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.run_snapshot_v1(run_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.run_snapshot_v1(run_id uuid) TO service_role;

GRANT SELECT ON TABLE collab.workflow_step_runs TO authenticated;
GRANT ALL ON TABLE collab.workflow_step_runs TO service_role;

REVOKE ALL ON FUNCTION collab.run_steps_v1(run_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.run_steps_v1(run_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.run_steps_v1(run_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.runs_v1(workflow_id uuid, executor_id text, status text, page_size integer, cursor text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.runs_v1(workflow_id uuid, executor_id text, status text, page_size integer, cursor text) TO authenticated;
GRANT ALL ON FUNCTION collab.runs_v1(workflow_id uuid, executor_id text, status text, page_size integer, cursor text) TO service_role;

REVOKE ALL ON FUNCTION collab.runs_v2(workflow_id uuid, executor_id text, status text, since timestamp with time zone, until timestamp with time zone, page_size integer, cursor text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.runs_v2(workflow_id uuid, executor_id text, status text, since timestamp with time zone, until timestamp with time zone, page_size integer, cursor text) TO authenticated;
GRANT ALL ON FUNCTION collab.runs_v2(workflow_id uuid, executor_id text, status text, since timestamp with time zone, until timestamp with time zone, page_size integer, cursor text) TO service_role;

REVOKE ALL ON FUNCTION collab.schedules_v1(workflow_id uuid, executor_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.schedules_v1(workflow_id uuid, executor_id text) TO authenticated;
GRANT ALL ON FUNCTION collab.schedules_v1(workflow_id uuid, executor_id text) TO service_role;

REVOKE ALL ON FUNCTION collab.schema_version() FROM PUBLIC;
GRANT ALL ON FUNCTION collab.schema_version() TO authenticated;
GRANT ALL ON FUNCTION collab.schema_version() TO service_role;

REVOKE ALL ON FUNCTION collab.set_retention_policy_v1(executor_id text, policy jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.set_retention_policy_v1(executor_id text, policy jsonb) TO authenticated;
GRANT ALL ON FUNCTION collab.set_retention_policy_v1(executor_id text, policy jsonb) TO service_role;

REVOKE ALL ON FUNCTION collab.start_run_v1(workflow_id uuid, input jsonb, idempotency_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.start_run_v1(workflow_id uuid, input jsonb, idempotency_key text) TO authenticated;
GRANT ALL ON FUNCTION collab.start_run_v1(workflow_id uuid, input jsonb, idempotency_key text) TO service_role;

REVOKE ALL ON FUNCTION collab.stats_v1(executor_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.stats_v1(executor_id text) TO authenticated;
GRANT ALL ON FUNCTION collab.stats_v1(executor_id text) TO service_role;

REVOKE ALL ON FUNCTION collab.stats_v2(executor_id text, type text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.stats_v2(executor_id text, type text) TO authenticated;
GRANT ALL ON FUNCTION collab.stats_v2(executor_id text, type text) TO service_role;

REVOKE ALL ON FUNCTION collab.step_types_v1(executor_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.step_types_v1(executor_id text) TO authenticated;
GRANT ALL ON FUNCTION collab.step_types_v1(executor_id text) TO service_role;

REVOKE ALL ON FUNCTION collab.stop_waiting_for_jobs_v1(executor_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.stop_waiting_for_jobs_v1(executor_id text) TO authenticated;
GRANT ALL ON FUNCTION collab.stop_waiting_for_jobs_v1(executor_id text) TO service_role;

GRANT SELECT ON TABLE collab.storage_deletions TO authenticated;
GRANT ALL ON TABLE collab.storage_deletions TO service_role;

REVOKE ALL ON FUNCTION collab.storage_deletions_v1(executor_id text, page_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.storage_deletions_v1(executor_id text, page_size integer) TO authenticated;
GRANT ALL ON FUNCTION collab.storage_deletions_v1(executor_id text, page_size integer) TO service_role;

REVOKE ALL ON FUNCTION collab.throughput_v1(executor_id text, minutes integer) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.throughput_v1(executor_id text, minutes integer) TO authenticated;
GRANT ALL ON FUNCTION collab.throughput_v1(executor_id text, minutes integer) TO service_role;

REVOKE ALL ON FUNCTION collab.update_schedule_v1(schedule_id uuid, cron text, timezone text, input jsonb, enabled boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.update_schedule_v1(schedule_id uuid, cron text, timezone text, input jsonb, enabled boolean) TO authenticated;
GRANT ALL ON FUNCTION collab.update_schedule_v1(schedule_id uuid, cron text, timezone text, input jsonb, enabled boolean) TO service_role;

REVOKE ALL ON FUNCTION collab.update_workflow_v1(workflow_id uuid, name text, description text, definition jsonb, input_schema jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.update_workflow_v1(workflow_id uuid, name text, description text, definition jsonb, input_schema jsonb) TO authenticated;
GRANT ALL ON FUNCTION collab.update_workflow_v1(workflow_id uuid, name text, description text, definition jsonb, input_schema jsonb) TO service_role;

REVOKE ALL ON FUNCTION collab.validate_definition_v1(executor_id text, definition jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.validate_definition_v1(executor_id text, definition jsonb) TO authenticated;
GRANT ALL ON FUNCTION collab.validate_definition_v1(executor_id text, definition jsonb) TO service_role;

REVOKE ALL ON FUNCTION collab.validate_workflow_v1(workflow_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.validate_workflow_v1(workflow_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.validate_workflow_v1(workflow_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.wait_for_jobs_v1(executor_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.wait_for_jobs_v1(executor_id text) TO authenticated;
GRANT ALL ON FUNCTION collab.wait_for_jobs_v1(executor_id text) TO service_role;

REVOKE ALL ON FUNCTION collab.webhook_secret_info_v1(workflow_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.webhook_secret_info_v1(workflow_id uuid) TO authenticated;
GRANT ALL ON FUNCTION collab.webhook_secret_info_v1(workflow_id uuid) TO service_role;

REVOKE ALL ON FUNCTION collab.webhook_start_run_v1(workflow_id uuid, body text, signature text, delivery_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.webhook_start_run_v1(workflow_id uuid, body text, signature text, delivery_id text) TO authenticated;
GRANT ALL ON FUNCTION collab.webhook_start_run_v1(workflow_id uuid, body text, signature text, delivery_id text) TO service_role;

GRANT SELECT ON TABLE collab.worker_heartbeats_v2 TO authenticated;
GRANT ALL ON TABLE collab.worker_heartbeats_v2 TO service_role;

REVOKE ALL ON FUNCTION collab.worker_heartbeat_v1(worker_id text, executor_id text, status text, version text, capacity integer, running integer, metadata jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.worker_heartbeat_v1(worker_id text, executor_id text, status text, version text, capacity integer, running integer, metadata jsonb) TO authenticated;
GRANT ALL ON FUNCTION collab.worker_heartbeat_v1(worker_id text, executor_id text, status text, version text, capacity integer, running integer, metadata jsonb) TO service_role;

REVOKE ALL ON FUNCTION collab.workers_active_v1(within_seconds integer, executor_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.workers_active_v1(within_seconds integer, executor_id text) TO authenticated;
GRANT ALL ON FUNCTION collab.workers_active_v1(within_seconds integer, executor_id text) TO service_role;

REVOKE ALL ON FUNCTION collab.workflows_v1(executor_id text, status text, page_size integer, cursor text) FROM PUBLIC;
GRANT ALL ON FUNCTION collab.workflows_v1(executor_id text, status text, page_size integer, cursor text) TO authenticated;
GRANT ALL ON FUNCTION collab.workflows_v1(executor_id text, status text, page_size integer, cursor text) TO service_role;

GRANT ALL ON TABLE collab.idempotency_keys TO service_role;

GRANT SELECT ON TABLE collab.job_count_deltas TO authenticated;
GRANT ALL ON TABLE collab.job_count_deltas TO service_role;

GRANT SELECT ON TABLE collab.job_counts TO authenticated;
GRANT ALL ON TABLE collab.job_counts TO service_role;

GRANT SELECT ON TABLE collab.job_dead_letters TO authenticated;
GRANT ALL ON TABLE collab.job_dead_letters TO service_role;

GRANT ALL ON TABLE collab.rate_limits TO service_role;

GRANT SELECT ON TABLE collab.retention_policies TO authenticated;
GRANT ALL ON TABLE collab.retention_policies TO service_role;

GRANT SELECT ON TABLE collab.retention_state TO authenticated;
GRANT ALL ON TABLE collab.retention_state TO service_role;
