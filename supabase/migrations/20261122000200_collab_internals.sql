-- collab: internal helpers (caller identity, errors, backoff, cursors) and the
-- triggers that write job_events and wake workers.
--
-- Error codes raised by collab (documented in docs/rpc.md):
--   CL400 invalid input        CL403 forbidden            CL404 not found
--   CL409 idempotency conflict CL410 lease lost           CL412 invalid transition
--   CL413 payload too large

-- Raise one of collab's errors. A function so that SQL expressions can raise too.
create function collab._raise(code text, message text) returns void
  language plpgsql immutable set search_path = ''
as $$
begin
  raise exception using errcode = code, message = message;
end
$$;

-- True for service_role and direct database connections; false for PostgREST's
-- `authenticated` and `anon` roles. Both the session role (SET ROLE, as PostgREST does)
-- and the JWT's role claim are consulted: either one naming a user role is enough.
create function collab._caller_is_trusted() returns boolean
  language sql stable set search_path = ''
as $$
  select coalesce(nullif(current_setting('role', true), 'none'), session_user::text)
           not in ('authenticated', 'anon')
     and coalesce(auth.role(), '') not in ('authenticated', 'anon')
$$;

-- Raise CL403 unless the caller may act on `executor_id` in one of `roles`.
create function collab._require_member(executor_id text, roles text[]) returns void
  language plpgsql stable set search_path = ''
as $$
begin
  if collab._caller_is_trusted() then
    return;
  end if;
  if auth.uid() is null then
    perform collab._raise('CL403', 'not authenticated: the JWT has no sub claim');
  end if;
  if not exists (select 1 from collab.executor_members m
                  where m.executor_id = _require_member.executor_id
                    and m.user_id = auth.uid() and m.role = any (roles)) then
    perform collab._raise('CL403', format('not allowed: caller is not a %s of executor %s',
                                          array_to_string(roles, ' or '), executor_id));
  end if;
end
$$;

-- Whether the caller may see jobs of `executor_id` (any membership role).
create function collab._caller_can_see(executor_id text) returns boolean
  language sql stable set search_path = ''
as $$
  select collab._caller_is_trusted()
      or exists (select 1 from collab.executor_members m
                  where m.executor_id = _caller_can_see.executor_id and m.user_id = auth.uid())
$$;

-- Lock a job for a state change. Jobs the caller may not see are "not found" (no
-- existence leak); jobs it sees but may not change in this way raise CL403. With
-- `allowed_statuses`, a job in another status raises CL412 ("cannot <verb> job ...").
create function collab._lock_job(job_id uuid, roles text[], allowed_statuses text[] default null,
                                 verb text default null)
  returns collab.jobs
  language plpgsql set search_path = ''
as $$
declare
  j collab.jobs;
begin
  select * into j from collab.jobs where id = _lock_job.job_id for update;
  if not found or not collab._caller_can_see(j.executor_id) then
    perform collab._raise('CL404', format('job %s not found', job_id));
  end if;
  perform collab._require_member(j.executor_id, roles);
  if allowed_statuses is not null and not j.status = any (allowed_statuses) then
    perform collab._raise('CL412', format('cannot %s job %s: it is %s', verb, j.id, j.status));
  end if;
  return j;
end
$$;

-- Raise CL410 unless `worker_id` holds a live lease on `j` (for `attempt`, if given).
create function collab._require_lease(j collab.jobs, worker_id text, attempt integer)
  returns void
  language plpgsql stable set search_path = ''
as $$
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

-- Check a name-like argument (type, executor_id, worker_id): 1-200 characters, starting
-- with a letter or digit, then letters, digits and _ . : @ / + -
create function collab._check_name(what text, value text) returns void
  language plpgsql immutable set search_path = ''
as $$
begin
  if value is null or value !~ '^[A-Za-z0-9][A-Za-z0-9_.:@/+-]{0,199}$' then
    perform collab._raise('CL400', format(
      '%s must be 1-200 characters: letters, digits and _ . : @ / + - (got %s)',
      what, coalesce(quote_literal(left(value, 50)), 'null')));
  end if;
end
$$;

-- Reject JSON bigger than `max_bytes` (as text) with CL413.
create function collab._check_size(what text, value jsonb, max_bytes integer) returns void
  language plpgsql immutable set search_path = ''
as $$
begin
  if value is not null and octet_length(value::text) > max_bytes then
    perform collab._raise('CL413', format('%s is larger than %s bytes', what, max_bytes));
  end if;
end
$$;

-- Reject an integer outside [lo, hi] with CL400.
create function collab._check_range(what text, value integer, lo integer, hi integer)
  returns void
  language plpgsql immutable set search_path = ''
as $$
begin
  if value is null or value < lo or value > hi then
    perform collab._raise('CL400', format('%s must be between %s and %s (got %s)',
                                          what, lo, hi, coalesce(value::text, 'null')));
  end if;
end
$$;

-- Exponential backoff before retry number `attempt` + 1: 5 s doubling per attempt,
-- capped at one hour, with up to 25 % jitter downwards (so the cap is a true bound).
create function collab._retry_backoff_seconds(attempt integer) returns double precision
  language sql volatile set search_path = ''
as $$
  select least(3600.0, 5.0 * power(2.0, greatest(attempt, 1) - 1)) * (0.75 + 0.25 * random())
$$;

-- Pagination cursors: "<created_at in UTC ISO>~<id>", tie-safe. A bare ISO timestamp
-- (the seeds' cursor) is accepted too and means "older than this instant".
create function collab._cursor_encode(ts timestamptz, id uuid) returns text
  language sql immutable set search_path = ''
as $$
  select to_char(ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '~' || id::text
$$;

create function collab._cursor_decode(cursor text, out ts timestamptz, out id uuid)
  language plpgsql immutable set search_path = ''
as $$
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
$$;

-- ---------------------------------------------------------------------------------
-- Triggers: one job_events row per state transition, in the same transaction, and one
-- wake-up per statement (not per row) when jobs become claimable.

-- NOTIFY collab_jobs with the executor of claimable jobs, once per statement. More
-- than 8 executors in one statement send a single '*' (workers then all look).
create function collab._notify_claimable(executor_ids text[]) returns void
  language plpgsql set search_path = ''
as $$
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

create function collab._jobs_after_insert() returns trigger
  language plpgsql set search_path = ''
as $$
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

-- One event per row that changed state, and one wake-up per executor whose jobs became
-- claimable. The transition is derived inline (no per-row function call): this runs on
-- every claim and complete.
create function collab._jobs_after_update() returns trigger
  language plpgsql set search_path = ''
as $$
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

create trigger jobs_after_insert after insert on collab.jobs
  referencing new table as new_rows
  for each statement execute function collab._jobs_after_insert();

create trigger jobs_after_update after update on collab.jobs
  referencing old table as old_rows new table as new_rows
  for each statement execute function collab._jobs_after_update();

-- Only the functions above run these; nobody calls them directly (grants: see the
-- grants migration).
revoke all on all functions in schema collab from public;
