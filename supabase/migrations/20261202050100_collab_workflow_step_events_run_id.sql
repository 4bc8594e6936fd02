-- collab workflows: a step job's `claimed` and `retry_scheduled` events carry its run's id.
--
-- Since 20261201052000 a run's `step_running` and a retry's `step_queued` are the step
-- job's own `claimed` / `retry_scheduled` rows of collab.job_events, read as the run's by
-- run_events_after_v1. Those rows had no run_id, so a subscription to the run's rows -
-- Supabase Realtime's `postgres_changes` filtered `run_id=eq.<run>`, the live source of
-- watch_run over SupabaseTransport and of the dashboard's run view there - was never
-- pushed them: the watcher saw a step start only at its next poll. Now they carry
-- run_id, so the run's subscribers are pushed them like the run's other events; readers
-- of the job and of the executor see the same rows with run_id filled in.
--
-- Nothing of the queue changes: `jobs_workflow_claimed` (a step job's claim or scheduled
-- retry; plain jobs never reach it) sets a transaction-local flag, and a BEFORE INSERT row
-- trigger on collab.job_events whose WHEN clause reads that flag fills run_id from the
-- job, for those two event types only. An event insert of a statement without step jobs
-- evaluates the WHEN clause and nothing else.
--
-- run_events_after_v1 then reads every event of a run through job_events_run_idx (the
-- run's own rows have job_id = the run id; the other rows with its run_id are its step
-- jobs' claims and retries), answering exactly as before. Earlier rows are backfilled.

create function collab._job_events_step_run() returns trigger
  language plpgsql security definer set search_path = ''
as $$
begin
  select j.workflow_run_id into new.run_id from collab.jobs j where j.id = new.job_id;
  return new;
end
$$;

revoke all on function collab._job_events_step_run() from public, anon, authenticated;

create trigger job_events_step_run before insert on collab.job_events
  for each row
  when (new.run_id is null and new.event_type in ('claimed', 'retry_scheduled')
        and current_setting('collab.step_events', true) = 'on')
  execute function collab._job_events_step_run();

-- As in 20261202020000, plus the flag for the trigger above. (The hint naming the run is
-- still sent: the events trigger's hint names the job, and LISTEN hubs route run
-- watchers by the run id.)
create or replace function collab._jobs_workflow_claimed() returns trigger
  language plpgsql set search_path = ''
as $$
begin
  perform set_config('collab.step_events', 'on', true);
  if new.status = 'running' then
    perform 1 from collab.workflow_step_runs s
     where s.run_id = new.workflow_run_id and s.step_id = new.workflow_step_id
       and s.job_id = new.id and s.status = 'queued'
       for share;
    if not found then
      perform set_config('collab.workflow_jobs', 'on', true);
      perform set_config('collab.workflow_orphans', 'on', true);
    end if;
  end if;
  if collab._event_listeners_present() then
    -- As 20261202020000 made it: one hint per transaction, not one per claimed step.
    perform collab._hint_event_readers(array[new.executor_id], array[new.workflow_run_id::text]);
  end if;
  return new;
end
$$;

update collab.job_events e
   set run_id = j.workflow_run_id
  from collab.jobs j
 where j.workflow_run_id is not null and e.job_id = j.id and e.run_id is null
   and e.event_type in ('claimed', 'retry_scheduled');

-- Events of one run after `after_seq`, gapless and in seq order (as in 20261201052000):
-- the run's own rows as stored, and its step jobs' `claimed` and `retry_scheduled` rows
-- as `step_running` and `step_queued` of their step (a job event after its step's end
-- is none), all found by the run's index.
create or replace function collab.run_events_after_v1(
  run_id uuid, after_seq bigint default 0, page_size integer default 1000,
  horizon_seq bigint default null, horizon_xid text default null)
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
                             'event_type', case x.event_type when 'claimed' then 'step_running' else 'step_queued' end,
                             'payload', jsonb_build_object('run_id', rid, 'step_id', j.workflow_step_id, 'job_id', j.id)
                                        || (x.payload - 'lease_until' - 'previous_status'),
                             'created_at', x.created_at, 'run_id', rid) end as event
            from collab.job_events x
            left join collab.jobs j on j.id = x.job_id and x.job_id <> rid
           where x.run_id = rid and x.seq > after and x.seq <= h.safe_seq
             and (x.job_id = rid
                  or (j.workflow_run_id = rid
                      and x.event_type in ('claimed', 'retry_scheduled')
                      and not exists (select 1 from collab.job_events t
                                       where t.run_id = rid and t.job_id = rid and t.seq < x.seq
                                         and t.event_type in ('step_succeeded', 'step_failed', 'step_cancelled')
                                         and t.payload ->> 'job_id' = j.id::text)))
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
