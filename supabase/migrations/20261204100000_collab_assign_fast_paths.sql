-- collab: cheaper enqueue (issue 19: batch and single enqueue against the peers).
--
-- Same signatures, same answers, same errors; one `queued` event per job as before (the
-- jobs trigger is untouched). Measured on a throw-away server (backend CPU per job or call,
-- bench/README.md "Enqueue"):
--
-- assign_jobs_v1
-- * A batch without idempotency keys (the common case) is a plain INSERT: with
--   ON CONFLICT every row is a speculative insertion (a speculative-insertion lock taken
--   and released, the tuple written, then confirmed), ~1 us a job, for rows that cannot
--   conflict (the arbiter index is partial, on rows with a key).
-- * Ids are derived from the element's position (base + ord) in the INSERT itself, with
--   base drawn so the count never wraps in a batch: they ascend in input order, so the
--   answer is the inserted ids in id order. The separate array built over
--   generate_series(1, n) went: its row estimate follows n, so PL/pgSQL planned it afresh
--   on every call (~30 us a call, most of a one-job batch's fixed cost), as it did the
--   answer's generate_series.
-- * The run_at block (a subtransaction, for its exception handler) runs only when some
--   element has a run_at; _check_range is called only when the batch is too large.
-- * The SQLSTATE of a bad element follows the fault reported: an element with another
--   fault and an oversized payload raised CL413 with the other fault's message; it is CL400.
-- * Replays (a key that exists) read each existing job by one index probe. The joins
--   they replace could be planned as a hash join over the whole idempotency index (a
--   generic plan on a table whose statistics are small): O(keyed jobs) per replay.
--
-- assign_job_v1 no longer wraps its arguments in a one-element batch: the same checks on
-- its typed arguments (same order, same messages, `jobs[0]: ...`), one id, one INSERT
-- (ON CONFLICT only with a key) and, for a replay, one probe. It saves a second PL/pgSQL
-- call, the jsonb round trip, the validation query and the statements above.

create or replace function collab.assign_jobs_v1(jobs jsonb)
  returns table (job_id uuid, queued boolean)
  language plpgsql security definer set search_path = ''
as $$
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
$$;

create or replace function collab.assign_job_v1(
  type text, executor_id text, payload jsonb default '{}', idempotency_key text default null,
  priority integer default 0, max_attempts integer default 3, run_at timestamptz default null)
  returns table (job_id uuid, queued boolean)
  language plpgsql security definer set search_path = ''
as $$
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
$$;
