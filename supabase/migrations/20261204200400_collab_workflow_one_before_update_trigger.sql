-- collab workflows: one BEFORE UPDATE trigger on collab.jobs with a short WHEN, not three.
--
-- A trigger's WHEN clause is read back from its stored node text (pg_trigger.tgqual) by
-- every statement that updates the table (bench/workflow_instructions.py, valgrind:
-- `stringToNode` under `TriggerEnabled`). collab.jobs had three workflow BEFORE UPDATE row
-- triggers - jobs_workflow_claimed, jobs_workflow_finished, jobs_workflow_refuse_retry -
-- whose WHEN clauses, 5.3 kB of node text together, every claim and every complete of
-- every job (plain ones too) parsed, to find that a plain job fires none of them. Now one
-- trigger, jobs_workflow_before_update, fires for a step job's rows only (WHEN: the job
-- has a workflow run, 0.3 kB) and its function does what the three did, in the same
-- order: refuse a step job's retry on its own (CL412), check a claim (or a scheduled
-- retry) against its step, flag a finish for jobs_workflow_after_update. A plain job's
-- update still runs no PL/pgSQL; a step job's lease extension now calls the function,
-- which does nothing for it.
--
-- The drop and the create are one statement (a DO block) with collab.jobs locked: the
-- supabase CLI runs a migration's statements one by one.

create function collab._jobs_workflow_before_update() returns trigger
  language plpgsql set search_path = ''
as $$
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

revoke all on function collab._jobs_workflow_before_update() from public, anon, authenticated;

do $migration$
begin
  lock table collab.jobs in share row exclusive mode;
  drop trigger jobs_workflow_claimed on collab.jobs;
  drop trigger jobs_workflow_finished on collab.jobs;
  drop trigger jobs_workflow_refuse_retry on collab.jobs;
  create trigger jobs_workflow_before_update before update on collab.jobs
    for each row
    when (old.workflow_run_id is not null or new.workflow_run_id is not null)
    execute function collab._jobs_workflow_before_update();
end
$migration$;

drop function collab._jobs_workflow_claimed();
drop function collab._jobs_workflow_flag();
drop function collab._refuse_step_job_retry();
