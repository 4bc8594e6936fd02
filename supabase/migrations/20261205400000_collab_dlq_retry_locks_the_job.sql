-- collab: a dead letter's retry locks its original job before appending the job's
-- `retried` event.
--
-- dlq_retry_v1 locked only the dead letter, then inserted the `retried` event on the
-- original job. A purge (_purge_jobs_batch, delete_job_v1) that had already deleted the
-- job in a statement whose snapshot predates that insert deleted the job's events
-- without it, then waited on the dead letter (the FK's ON DELETE SET NULL) and went on:
-- the retry's event was left behind, naming a job that no longer exists.
--
-- Now the retry takes FOR KEY SHARE on the job first, then the dead letter FOR UPDATE:
-- the purge's order (job FOR UPDATE, then the dead letter through the FK), so the two
-- never deadlock. A purge's batch skips a job a retry holds (SKIP LOCKED) and takes it,
-- with the new event, in a later batch; a retry that waited for a purge finds the job
-- gone (the dead letter's job_id is then null) and appends no event.
--
-- append_job_event_v1 already locks its job (_lock_job) and the jobs triggers write
-- events for the row their statement holds; the workflow run events name runs, which no
-- purge deletes. dlq_retry_v1 was the only writer of this pattern.

create or replace function collab.dlq_retry_v1(dead_letter_id uuid)
  returns table (job_id uuid, queued boolean)
  language plpgsql security definer set search_path = ''
as $$
declare
  d collab.job_dead_letters;
  new_id uuid;
  job_alive boolean := false;
begin
  select * into d from collab.job_dead_letters where id = dead_letter_id;
  if not found or not collab._caller_can_see(d.executor_id) then
    perform collab._raise('CL404', format('dead letter %s not found', dead_letter_id));
  end if;
  perform collab._require_member(d.executor_id, '{client,worker,admin}');
  -- The job before the dead letter: the order a purge takes them in.
  if d.job_id is not null then
    perform 1 from collab.jobs j where j.id = d.job_id for key share;
    job_alive := found;
  end if;
  select * into d from collab.job_dead_letters where id = dead_letter_id for update;
  if not found then  -- deleted while we waited for the job
    perform collab._raise('CL404', format('dead letter %s not found', dead_letter_id));
  end if;
  if d.retried_at is not null then
    return query select d.retried_job_id, false;
    return;
  end if;
  insert into collab.jobs (type, executor_id, payload, priority, max_attempts)
  values (d.type, d.executor_id, d.payload, d.priority, d.max_attempts)
  returning id into new_id;
  update collab.job_dead_letters set retried_at = now(), retried_job_id = new_id where id = d.id;
  -- The original job does not change state; its log still records the retry, if the job
  -- is still there (the lock above keeps it until we commit).
  if job_alive and d.job_id is not null then
    insert into collab.job_events (job_id, executor_id, event_type, payload)
    values (d.job_id, d.executor_id, 'retried',
            jsonb_build_object('dead_letter_id', d.id, 'retried_job_id', new_id));
  end if;
  return query select new_id, true;
end
$$;
