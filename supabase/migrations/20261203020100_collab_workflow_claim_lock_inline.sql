-- collab workflows: the claim of a step job takes its run's claim lock inline.
--
-- 20261203020000 made the claim meet a stop on a per-run advisory lock through
-- collab_private._lock_run_claims. pg_stat_statements (track = all) put that call at 13 us
-- a claim and the lock function inside it at 1.6 us: the rest is the call of a PL/pgSQL
-- function with a SET clause (search_path saved and restored). The claim's row trigger
-- now takes the lock itself, with the same key; _stop_run keeps the helper (once a stop).

create or replace function collab._jobs_workflow_claimed() returns trigger
  language plpgsql set search_path = ''
as $$
begin
  perform set_config('collab.step_events', 'on', true);
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
  return new;
end
$$;
