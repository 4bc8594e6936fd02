-- collab: one statement trigger per insert and per update of collab.jobs, not two.
--
-- Every statement that inserts or updates jobs fired two AFTER statement triggers with
-- transition tables: the event log's (`_jobs_after_insert` / `_jobs_after_update`) and the
-- kept counts' (`_jobs_count_changes`, migration 20261201053000). Each run is a PL/pgSQL
-- call through a security-definer/`SET` wrapper with its transition tables registered,
-- and its own INSERT statement with its own executor start: a fixed cost per statement
-- that a one-job RPC (`assign_job_v1`, `complete_and_claim_v1`) pays in full. The event
-- triggers now append the count deltas themselves, in the same statement as the events
-- (a second data-modifying CTE), with exactly the deltas `_jobs_count_changes` computed
-- (the same query over the same transition tables), and fold them now and then the same
-- way; the two count triggers for INSERT and UPDATE go. DELETE and TRUNCATE keep theirs
-- (no event is logged for them).
--
-- The event triggers become security definer, as the count trigger was: a service_role
-- client writing collab.jobs directly may not write the count tables itself. Events and
-- notifications are unchanged (`_job_events_notify` on collab.job_events is not touched).
--
-- No statement may see both the old and the new triggers, or neither: the replacement,
-- the drops and the lock are one statement (a DO block), as in 20261201053000, because the
-- supabase CLI runs a migration's statements one by one with no transaction around them.

do $migration$
begin
  lock table collab.jobs in share row exclusive mode;

  create or replace function collab._jobs_after_insert() returns trigger
    language plpgsql security definer set search_path = ''
  as $fn$
  begin
    with logged as (
      insert into collab.job_events (job_id, executor_id, event_type, payload)
      select n.id, n.executor_id, 'queued',
             jsonb_build_object('type', n.type, 'priority', n.priority, 'run_at', n.next_run_at)
        from new_rows n
    )
    insert into collab.job_count_deltas (executor_id, type, status, minute, n)
    select r.executor_id, r.type, r.status,
           case when r.finished_at is null or r.status not in ('succeeded', 'failed', 'cancelled')
                then '-infinity' else date_bin('1 minute', r.finished_at, timestamptz 'epoch') end,
           count(*)
      from new_rows r group by 1, 2, 3, 4;
    perform collab._notify_claimable(
      (select array_agg(distinct n.executor_id) from new_rows n where n.next_run_at <= now()));
    if random() < 1.0 / 512 then
      perform collab._fold_job_counts();
    end if;
    return null;
  end
  $fn$;

  create or replace function collab._jobs_after_update() returns trigger
    language plpgsql security definer set search_path = '' set enable_nestloop = off
  as $fn$
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
    ), counted as (
      insert into collab.job_count_deltas (executor_id, type, status, minute, n)
      select r.executor_id, r.type, r.status,
             case when r.finished_at is null or r.status not in ('succeeded', 'failed', 'cancelled')
                  then '-infinity' else date_bin('1 minute', r.finished_at, timestamptz 'epoch') end,
             sum(r.d)
        from (select n.executor_id, n.type, n.status, n.finished_at, 1 as d from new_rows n
              union all
              select o.executor_id, o.type, o.status, o.finished_at, -1 from old_rows o) r
       group by 1, 2, 3, 4
      having sum(r.d) <> 0
    )
    select array_agg(distinct c.executor_id) into woken
      from changed c
     where c.status = 'queued' and c.old_status <> 'queued' and c.next_run_at <= now();
    perform collab._notify_claimable(woken);
    if random() < 1.0 / 512 then
      perform collab._fold_job_counts();
    end if;
    return null;
  end
  $fn$;

  drop trigger jobs_count_insert on collab.jobs;
  drop trigger jobs_count_update on collab.jobs;
end
$migration$;
