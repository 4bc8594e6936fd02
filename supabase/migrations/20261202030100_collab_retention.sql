-- collab: retention as a policy, applied in bounded batches.
--
-- purge_jobs_v1 deletes every due job in ONE statement: at 100,000 jobs it held row locks
-- on 45,000 of them for minutes, and retries, DLQ operations and the fold of counts waited.
-- Here a purge is a sequence of batches, each one call and one transaction:
--
-- * purge_jobs_batch_v1 deletes at most `batch_size` due jobs (with their events; their
--   artifact rows cascade) and answers how far it got: `{purged, events, cursor, done}`.
--   The caller passes `cursor` back until `done`. The due rows are picked in
--   (finished_at, id) order with FOR UPDATE SKIP LOCKED, so a job that a retry, a delete or
--   another purge holds is passed over instead of waited for, and nobody waits on the
--   purge for more than one batch. It is a function, not a procedure with COMMIT, so that
--   PostgREST can call it; the SDK, the worker and the CLI loop over it.
-- * retention_policies: per executor, how long finished jobs and dead letters are kept
--   (defaults in the spirit of River: succeeded and cancelled 24 h, failed 7 d, dead
--   letters 7 d; events go with their job). apply_retention_v1 applies one batch of an
--   executor's policy under a lease row (retention_state), so one caller at a time —
--   a worker's maintenance loop or pg_cron's `call collab.apply_retention()` — works
--   through an executor's due rows, and the others skip it.
-- * storage_deletions: the Storage objects of deleted artifact rows, listed for deletion
--   in the same transaction as the delete (a trigger on collab.artifacts), because SQL
--   cannot delete a Storage object: the SDK removes the objects through the Storage API
--   and acknowledges them (ack_storage_deletions_v1).

-- Per-executor retention. Null seconds: keep forever. No row: the defaults.
create table collab.retention_policies (
  executor_id         text        primary key check (char_length(executor_id) between 1 and 200),
  succeeded_seconds   integer     default 86400 check (succeeded_seconds >= 0),
  failed_seconds      integer     default 604800 check (failed_seconds >= 0),
  cancelled_seconds   integer     default 86400 check (cancelled_seconds >= 0),
  dead_letter_seconds integer     default 604800 check (dead_letter_seconds >= 0),
  enabled             boolean     not null default true,
  updated_at          timestamptz not null default now()
);
comment on table collab.retention_policies is
  'How long each executor keeps finished jobs and dead letters (null: forever); no row: the defaults';

-- Who is applying an executor's policy now (the lease), how far it got, and when the next
-- pass is due. Written only by apply_retention_v1.
create table collab.retention_state (
  executor_id      text        primary key,
  lease_owner      text,
  lease_until      timestamptz,
  cursor           jsonb,
  next_run_at      timestamptz not null default now(),
  last_started_at  timestamptz,
  last_finished_at timestamptz,
  last_purged      bigint      not null default 0
);
comment on table collab.retention_state is
  'The retention lease and progress per executor (apply_retention_v1)';

-- Storage objects whose artifact rows are gone, to be removed through the Storage API.
create table collab.storage_deletions (
  id          bigint      generated always as identity primary key,
  executor_id text        not null,
  bucket      text        not null,
  path        text        not null,
  queued_at   timestamptz not null default now()
);
create index storage_deletions_executor_idx on collab.storage_deletions (executor_id, id);
comment on table collab.storage_deletions is
  'Storage objects of deleted artifacts, listed for deletion by the SDK (storage_deletions_v1)';

alter table collab.retention_policies enable row level security;
alter table collab.retention_state enable row level security;
alter table collab.storage_deletions enable row level security;
create policy retention_policies_read_member on collab.retention_policies
  for select to authenticated
  using (executor_id in (select m.executor_id from collab.executor_members m
                         where m.user_id = (select auth.uid())));
create policy retention_state_read_member on collab.retention_state
  for select to authenticated
  using (executor_id in (select m.executor_id from collab.executor_members m
                         where m.user_id = (select auth.uid())));
create policy storage_deletions_read_member on collab.storage_deletions
  for select to authenticated
  using (executor_id in (select m.executor_id from collab.executor_members m
                         where m.user_id = (select auth.uid())));
grant select on collab.retention_policies, collab.retention_state, collab.storage_deletions to authenticated;
grant all on collab.retention_policies, collab.retention_state, collab.storage_deletions to service_role;

-- Every deleted artifact row (delete_job_v1, a purge, the cascade from jobs, a direct
-- DELETE) lists its object. A row trigger: the cascade deletes one job's artifacts per
-- statement, and a statement trigger would run once per deleted job, artifacts or not.
create function collab._artifacts_list_deleted() returns trigger
  language plpgsql set search_path = ''
as $$
begin
  insert into collab.storage_deletions (executor_id, bucket, path)
  values (old.executor_id, old.bucket, old.path);
  return null;
end
$$;
create trigger artifacts_list_deleted after delete on collab.artifacts
  for each row execute function collab._artifacts_list_deleted();

-- One batch of a purge: at most `batch_size` jobs of `of_executor` (null: all) that
-- finished before their status's cutoff (null cutoff: that status is kept), after
-- `after` in (finished_at, id) order, with their events. Jobs of a workflow run that is
-- still going are kept (the run may still read them). Answers {purged, events, cursor, done}.
create function collab._purge_jobs_batch(
  of_executor text, succeeded_before timestamptz, failed_before timestamptz,
  cancelled_before timestamptz, batch_size integer, after jsonb)
  returns jsonb
  language plpgsql set search_path = ''
as $$
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
    delete from collab.job_events e using gone g where e.job_id = g.id
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

-- One batch of dead letters of `of_executor` (null: all) created before `before`.
create function collab._purge_dead_letters_batch(of_executor text, before timestamptz, batch_size integer)
  returns integer
  language plpgsql set search_path = ''
as $$
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

-- The batched purge RPC: purge_jobs_v1's arguments and rules, one batch per call.
create function collab.purge_jobs_batch_v1(
  older_than_seconds integer default 0, executor_id text default null,
  statuses text[] default '{succeeded}', batch_size integer default 1000, cursor jsonb default null)
  returns jsonb
  language plpgsql security definer set search_path = ''
as $$
declare
  before timestamptz;
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
  before := now() - make_interval(secs => older_than_seconds);
  return collab._purge_jobs_batch(
    executor_id,
    case when 'succeeded' = any (statuses) then before end,
    case when 'failed' = any (statuses) then before end,
    case when 'cancelled' = any (statuses) then before end,
    batch_size, cursor);
end
$$;

-- The effective policy of an executor (its row, else the defaults).
create function collab._retention_policy(of_executor text) returns jsonb
  language plpgsql stable set search_path = ''
as $$
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

create function collab.retention_policy_v1(executor_id text)
  returns jsonb
  language plpgsql stable security definer set search_path = ''
as $$
begin
  perform collab._check_name('executor_id', executor_id);
  perform collab._require_member(executor_id, '{client,worker,admin}');
  return collab._retention_policy(executor_id);
end
$$;

-- Change an executor's policy: `policy` is a JSON object of the fields to change
-- (succeededSeconds, failedSeconds, cancelledSeconds, deadLetterSeconds: seconds, or null
-- to keep forever; enabled: boolean). Fields left out keep their value (or default).
create function collab.set_retention_policy_v1(executor_id text, policy jsonb)
  returns jsonb
  language plpgsql security definer set search_path = ''
as $$
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

-- One batch of an executor's retention policy, if this caller holds the executor's lease
-- or can take it and a pass is due. Answers {ran, purged, events, deadLetters, done}:
-- `ran` false means another caller holds the lease, or no pass is due, or the policy is
-- disabled; `done` true means the pass is over (the next is due `interval_seconds` later).
-- A pass deletes the due jobs, then the due dead letters; its cursor is kept in
-- retention_state, so a pass whose caller died is continued by the next caller once the
-- lease expires. Callers loop while `ran` and not `done`.
create function collab.apply_retention_v1(
  executor_id text, worker_id text, batch_size integer default 1000,
  lease_seconds integer default 60, interval_seconds integer default 60)
  returns jsonb
  language plpgsql security definer set search_path = ''
as $$
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

-- Objects of deleted artifacts to remove from Storage, oldest first: of one executor, or
-- (null) of every executor. An artifact's path holds its job's id (`E/J/N`), and a job id
-- is never reused, so no new artifact can come to live at a listed path.
create function collab.storage_deletions_v1(executor_id text default null, page_size integer default 100)
  returns setof collab.storage_deletions
  language plpgsql stable security definer set search_path = ''
as $$
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

-- Forget listed deletions whose objects were removed; the count forgotten.
create function collab.ack_storage_deletions_v1(ids bigint[])
  returns integer
  language plpgsql security definer set search_path = ''
as $$
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

-- pg_cron's entry point: apply every executor's policy, a batch per transaction, for at
-- most `max_seconds`. Executors are those with jobs or dead letters (found by skipping
-- through the executor indexes, one probe per executor).
--   select cron.schedule('collab-retention', '* * * * *', 'call collab_private.apply_retention()');
-- A procedure, to COMMIT between batches; and so without a SET clause (PostgreSQL refuses
-- transaction control in a procedure that has one), every name in it qualified. In
-- collab_private, which the Data API does not serve and the search_path lint does not
-- cover; only the owner (and service_role) may call it.
create procedure collab_private.apply_retention(max_seconds integer default 50, batch_size integer default 1000)
  language plpgsql
as $$
declare
  e text;
  answer jsonb;
  deadline timestamptz := clock_timestamp() + make_interval(secs => max_seconds);
begin
  for e in
    with recursive jobs_ex (id) as (
      select min(j.executor_id) from collab.jobs j
      union all
      select (select min(j.executor_id) from collab.jobs j where j.executor_id > x.id)
        from jobs_ex x where x.id is not null
    ), dead_ex (id) as (
      select min(d.executor_id) from collab.job_dead_letters d
      union all
      select (select min(d.executor_id) from collab.job_dead_letters d where d.executor_id > x.id)
        from dead_ex x where x.id is not null
    )
    select id from jobs_ex where id is not null union select id from dead_ex where id is not null
  loop
    loop
      exit when clock_timestamp() > deadline;
      answer := collab.apply_retention_v1(e, 'pg_cron', batch_size);
      commit;
      exit when not (answer ->> 'ran')::boolean or (answer ->> 'done')::boolean;
    end loop;
  end loop;
end
$$;

revoke all on function collab._artifacts_list_deleted() from public;
revoke all on function collab._purge_jobs_batch(text, timestamptz, timestamptz, timestamptz, integer, jsonb) from public;
revoke all on function collab._purge_dead_letters_batch(text, timestamptz, integer) from public;
revoke all on function collab._retention_policy(text) from public;
revoke all on function collab.purge_jobs_batch_v1(integer, text, text[], integer, jsonb) from public;
revoke all on function collab.retention_policy_v1(text) from public;
revoke all on function collab.set_retention_policy_v1(text, jsonb) from public;
revoke all on function collab.apply_retention_v1(text, text, integer, integer, integer) from public;
revoke all on function collab.storage_deletions_v1(text, integer) from public;
revoke all on function collab.ack_storage_deletions_v1(bigint[]) from public;
revoke all on procedure collab_private.apply_retention(integer, integer) from public;
grant execute on function collab.purge_jobs_batch_v1(integer, text, text[], integer, jsonb) to authenticated, service_role;
grant execute on function collab.retention_policy_v1(text) to authenticated, service_role;
grant execute on function collab.set_retention_policy_v1(text, jsonb) to authenticated, service_role;
grant execute on function collab.apply_retention_v1(text, text, integer, integer, integer) to authenticated, service_role;
grant execute on function collab.storage_deletions_v1(text, integer) to authenticated, service_role;
grant execute on function collab.ack_storage_deletions_v1(bigint[]) to authenticated, service_role;
grant execute on procedure collab_private.apply_retention(integer, integer) to service_role;
