-- collab workflows: a run's event log outlives its step jobs.
--
-- Since 20261203020000 a run's `step_queued`, `step_running` and `step_succeeded` are its
-- step jobs' own `queued`, `claimed` and `succeeded` rows (tagged with the run's id),
-- and run_events_after_v1 read each step's id through the job. Retention purges a
-- finished run's step jobs with their events (after 24 h by default), so the log of an
-- older run lost those steps and no longer replayed to the statuses its tables hold.
-- Now:
-- 1. the tagging trigger also writes the step's id into the event's payload
--    (`step_id`), so the event names its step without the job;
-- 2. run_events_after_v1 reads the step from the event (through the job only for rows
--    written before this migration);
-- 3. a purge deletes a job's events except those tagged with a run: they are the run's
--    log and stay as long as the run's own rows do.

create or replace function collab._job_events_step_run() returns trigger
  language plpgsql security definer set search_path = ''
as $$
declare
  step text;
begin
  select j.workflow_run_id, j.workflow_step_id into new.run_id, step
    from collab.jobs j where j.id = new.job_id;
  if step is not null then
    new.payload := new.payload || jsonb_build_object('step_id', step);
  end if;
  return new;
end
$$;

-- As 20261203020000 made it, with the step read from the event.
create or replace function collab.run_events_after_v1(run_id uuid, after_seq bigint default 0,
                                                    page_size integer default 1000,
                                                    horizon_seq bigint default null,
                                                    horizon_xid text default null)
  returns jsonb
  language plpgsql set search_path = ''
as $$
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

-- As 20261202030100 made it, but a job's run-tagged events stay (the run's log).
create or replace function collab._purge_jobs_batch(
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
