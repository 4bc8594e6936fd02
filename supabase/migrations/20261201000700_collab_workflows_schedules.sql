-- collab workflows: cron schedules. fire_due_schedules_v1 starts at most one run per
-- schedule and tick (the tick is in the run's idempotency key) and is safe to call from
-- many places at once: pg_cron every minute where the extension exists (Supabase Cron),
-- and workers' periodic loop otherwise. A schedule that missed ticks (nobody called the
-- function for a while) fires once, for its first missed tick, and moves on to the first
-- tick after now.

-- The values of one cron field: `*`, numbers, names (jan-dec, sun-sat), ranges `a-b`,
-- steps `*/n`, `a-b/n` and `a/n` (from a to the end), and lists of those.
create function collab._cron_field(field text, what text, lo integer, hi integer, names text[] default null)
  returns integer[]
  language plpgsql immutable set search_path = ''
as $$
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
$$;

-- The first time after `after` (strictly) that the 5-field cron expression `expr`
-- (minute hour day-of-month month day-of-week) names, in time zone `tz`. As in Vixie
-- cron, when both day fields are restricted (neither starts with *) a day matching
-- either one fires. Local times that do not exist or occur twice (daylight saving) are
-- read as PostgreSQL reads them (a skipped time moves forward by the gap).
create function collab._cron_next(expr text, tz text, after timestamptz) returns timestamptz
  language plpgsql stable set search_path = ''
as $$
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

-- The next fire time of a cron expression (for previews and checks).
create function collab.cron_next_v1(cron text, timezone text default 'UTC', after timestamptz default null)
  returns timestamptz
  language plpgsql stable set search_path = ''
as $$
begin
  return collab._cron_next(cron, coalesce(timezone, 'UTC'), coalesce(after, now()));
end
$$;

create function collab._lock_schedule(schedule_id uuid, roles text[]) returns collab.workflow_schedules
  language plpgsql set search_path = ''
as $$
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

-- A cron trigger for a workflow. It fires while the workflow is published; its first tick
-- is the first one after now.
create function collab.create_schedule_v1(
  workflow_id uuid, cron text, timezone text default 'UTC', input jsonb default '{}'::jsonb,
  enabled boolean default true)
  returns setof collab.workflow_schedules
  language plpgsql security definer set search_path = ''
as $$
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

-- Change a schedule; arguments left null keep their value. A new cron or time zone, or
-- enabling it, sets the next tick to the first one after now.
create function collab.update_schedule_v1(
  schedule_id uuid, cron text default null, timezone text default null, input jsonb default null,
  enabled boolean default null)
  returns setof collab.workflow_schedules
  language plpgsql security definer set search_path = ''
as $$
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

create function collab.delete_schedule_v1(schedule_id uuid)
  returns setof collab.workflow_schedules
  language plpgsql security definer set search_path = ''
as $$
declare
  s collab.workflow_schedules;
begin
  s := collab._lock_schedule(schedule_id, '{client,admin}');
  delete from collab.workflow_schedules x where x.id = s.id;
  return next s;
end
$$;

create function collab.schedules_v1(workflow_id uuid default null, executor_id text default null)
  returns setof collab.workflow_schedules
  language plpgsql stable set search_path = ''
as $$
begin
  return query
    select * from collab.workflow_schedules s
     where (schedules_v1.workflow_id is null or s.workflow_id = schedules_v1.workflow_id)
       and (schedules_v1.executor_id is null or s.executor_id = schedules_v1.executor_id)
     order by s.next_fire_at, s.id;
end
$$;

-- Fire every due, enabled schedule (of `executor_id`, or of all executors for trusted
-- callers): one run per schedule and tick, with idempotency key
-- 'schedule:<schedule id>:<tick, UTC ISO>' and trigger_type 'schedule'. Concurrent callers
-- skip schedules another caller is firing (and the key makes a second run impossible
-- anyway). A schedule whose workflow is not published does not start a run; its
-- last_error says why. Returns what it fired.
create function collab.fire_due_schedules_v1(executor_id text default null)
  returns table (schedule_id uuid, run_id uuid, tick timestamptz, created boolean)
  language plpgsql security definer set search_path = ''
as $$
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

-- Schedule fire_due_schedules_v1 every minute with pg_cron, where the extension is
-- installed (Supabase Cron; elsewhere `create extension pg_cron` needs it in
-- shared_preload_libraries). Returns the pg_cron job id, or null without pg_cron. Safe to
-- call again (the job is named and replaced). Trusted callers only.
create function collab.install_cron_v1() returns bigint
  language plpgsql security definer set search_path = ''
as $$
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

do $$
begin
  if exists (select 1 from pg_catalog.pg_extension where extname = 'pg_cron') then
    perform collab.install_cron_v1();
  end if;
end
$$;
