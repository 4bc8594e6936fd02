-- collab: retention for workflow runs.
--
-- Jobs have a batched purge (purge_jobs_batch_v1); runs and step runs had none.
-- purge_runs_batch_v1 deletes finished runs (succeeded/failed/cancelled) that completed
-- more than `older_than_seconds` ago, in batches ordered by (completed_at, id) with a
-- cursor, as the jobs purge does. A run goes with everything that is only its own:
-- its step runs (FK ON DELETE CASCADE), its step jobs (artifacts cascade and are listed
-- for Storage deletion by their trigger; dead letters keep their copy, job_id set null)
-- and every event of the run's log and of those jobs.
--
-- Concurrency: the run is locked FOR UPDATE SKIP LOCKED, then its jobs FOR UPDATE SKIP
-- LOCKED; a run one of whose jobs is held by someone else (a worker, a retry, a jobs
-- purge's batch) or not finished is left for a later call, so a purge never waits for
-- a worker and never holds a run while waiting for a job. Events are deleted after the
-- jobs are locked, so a writer that appends to a job (which locks the job first, see
-- 20261205400000) either committed before (its event is seen) or finds the job gone.

-- A run's step jobs are found through its log (job_events_run_idx: every step job's
-- `queued` event carries the run id and outlives the job), not through an index on
-- jobs.workflow_run_id: that index was dropped in 20261203020000 because every step
-- job's insert, claim and complete paid an entry in it.
create index workflow_runs_completed_idx on collab.workflow_runs (completed_at, id)
  where status in ('succeeded', 'failed', 'cancelled');

-- The arguments and the caller's right of a batched purge (jobs or runs): the checks
-- purge_jobs_batch_v1 made inline, now shared.
create function collab._check_purge_arguments(
  older_than_seconds integer, executor_id text, statuses text[], batch_size integer, cursor jsonb)
  returns void
  language plpgsql stable set search_path = ''
as $$
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

-- As 20261202030100 made it, with its checks in _check_purge_arguments.
create or replace function collab.purge_jobs_batch_v1(
  older_than_seconds integer default 0, executor_id text default null,
  statuses text[] default '{succeeded}', batch_size integer default 1000, cursor jsonb default null)
  returns jsonb
  language plpgsql security definer set search_path = ''
as $$
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

create function collab.purge_runs_batch_v1(
  older_than_seconds integer default 0, executor_id text default null,
  statuses text[] default '{succeeded,failed,cancelled}', batch_size integer default 100,
  cursor jsonb default null)
  returns jsonb
  language plpgsql security definer set search_path = ''
as $$
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

revoke all on function collab._check_purge_arguments(integer, text, text[], integer, jsonb) from public;
revoke all on function collab.purge_runs_batch_v1(integer, text, text[], integer, jsonb) from public;
grant execute on function collab.purge_runs_batch_v1(integer, text, text[], integer, jsonb) to authenticated, service_role;
