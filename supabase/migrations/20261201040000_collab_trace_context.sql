-- collab: the trace context of the enqueuer, carried in the job (issue 18, OpenTelemetry).
--
-- A job is its payload and idempotency key: the same key with another payload is a
-- conflict (CL409). The enqueuer's trace context (W3C `traceparent`/`tracestate`, as an
-- OpenTelemetry propagator writes them) differs on every call, so it cannot go in the
-- payload; it goes in a column of its own, set by new versions of the assign functions
-- and never compared. A replay with a known key answers the existing job and leaves its
-- trace context as the first enqueue set it. Claims return the whole row, so they return
-- the column too, and the worker makes its spans children of that context.
--
-- assign_jobs_v2 is assign_jobs_v1 plus the column: it checks each element's
-- `trace_context`, lets v1 do everything else, then sets the column on the jobs this
-- call inserted (in the same transaction: no claim can see them before). That UPDATE
-- changes no state, so the jobs trigger logs no event and wakes no one. The SDK calls the
-- v2 functions only while OpenTelemetry is active; v1 stays the hot path.

alter table collab.jobs add column trace_context jsonb;

comment on column collab.jobs.trace_context is
  'The enqueuer''s trace context (W3C traceparent/tracestate), set by assign_job(s)_v2; not part of the job''s identity';

create function collab.assign_jobs_v2(jobs jsonb)
  returns table (job_id uuid, queued boolean)
  language plpgsql security definer set search_path = ''
as $$
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

create function collab.assign_job_v2(
  type text, executor_id text, payload jsonb default '{}'::jsonb,
  idempotency_key text default null, priority integer default 0,
  max_attempts integer default 3, run_at timestamptz default null,
  trace_context jsonb default null)
  returns table (job_id uuid, queued boolean)
  language plpgsql security definer set search_path = ''
as $$
begin
  return query
  select a.job_id, a.queued from collab.assign_jobs_v2(jsonb_build_array(jsonb_build_object(
    'type', assign_job_v2.type, 'executor_id', assign_job_v2.executor_id,
    'payload', assign_job_v2.payload, 'idempotency_key', assign_job_v2.idempotency_key,
    'priority', assign_job_v2.priority, 'max_attempts', assign_job_v2.max_attempts,
    'run_at', assign_job_v2.run_at, 'trace_context', assign_job_v2.trace_context))) a;
end
$$;

comment on function collab.assign_jobs_v2(jsonb) is
  'assign_jobs_v1 whose elements may carry trace_context (a JSON object of strings), stored on the jobs it inserts';
comment on function collab.assign_job_v2(text, text, jsonb, text, integer, integer, timestamptz, jsonb) is
  'assign_job_v1 with trace_context (a JSON object of strings), stored on the job if this call inserts it';

revoke all on function collab.assign_jobs_v2(jsonb) from public;
revoke all on function collab.assign_job_v2(text, text, jsonb, text, integer, integer, timestamptz, jsonb)
  from public;
grant execute on function collab.assign_jobs_v2(jsonb) to authenticated, service_role;
grant execute on function collab.assign_job_v2(text, text, jsonb, text, integer, integer, timestamptz, jsonb)
  to authenticated, service_role;
