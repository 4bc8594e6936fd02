-- collab: complete_and_claim_v1 completes and claims in one UPDATE statement.
--
-- A one-job-per-call drain (`complete_and_claim_v1`) paid, per job, two nested
-- security-definer PL/pgSQL calls (`complete_job_v1`, `claim_jobs_v2`) with their eight
-- argument and caller checks (each a PL/pgSQL call of its own), and two UPDATE statements
-- of collab.jobs: each one an executor start (its nine CHECK constraints, the generated
-- `lease_until` and the row triggers' WHEN clauses read from the catalog again) and one
-- run of the AFTER UPDATE statement trigger with its transition tables, its event insert
-- and its count deltas. `perf` of one backend put the two trigger runs at a quarter of the
-- call and the executor starts at a fifth.
--
-- Now the usual call (valid arguments, no artifacts, a caller allowed on the executor, no
-- expired lease waiting for the dead-letter queue, and the completed job still leased to
-- this worker) is one statement: the completed job is locked by id and fenced exactly as
-- `complete_job_v1` fences it; only if it passes is the next job picked exactly as
-- `claim_jobs_v2` (`alone => null`) picks it, and one UPDATE writes both rows, so the
-- statement trigger runs once and logs both events (the `succeeded` one first). Anything
-- else — a lost lease, a replay, a bad argument, artifacts, dead letters to move — takes
-- the previous body unchanged (`complete_job_v1` then `claim_jobs_v2`), with the same
-- answers and errors. The function becomes security definer (it writes collab.jobs
-- itself) and checks its caller as the two did: trusted, or a worker or admin of both
-- executors.
--
-- `_jobs_after_update` logs a statement's claims after its other transitions (a mixed
-- statement is new here; every other statement has one kind of transition), and calls
-- `_notify_claimable` only when something became claimable. Its count deltas and the
-- 1-in-512 fold are unchanged.
--
-- One statement (a DO block), as in 20261202060000: the supabase CLI runs a migration's
-- statements one by one with no transaction around them.

do $migration$
begin
  lock table collab.jobs in share row exclusive mode;

  create or replace function collab.complete_and_claim_v1(
    job_id uuid, worker_id text, executor_id text, result jsonb default null,
    artifacts jsonb default '[]', attempt integer default null, lease_seconds integer default 60,
    type_prefix text default null)
  returns setof collab.jobs
  language plpgsql security definer set search_path = '' set plan_cache_mode = force_generic_plan
  as $fn$
  declare
    trusted boolean;
    completed boolean;
    next_jobs collab.jobs[];
  begin
    -- The fast path's preconditions: every check complete_job_v1 and claim_jobs_v2 make
    -- before writing, passed (the slow path below raises each failure as they do).
    if job_id is not null
       and worker_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:@/+-]*$' and char_length(worker_id) <= 200
       and executor_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:@/+-]*$' and char_length(executor_id) <= 200
       and lease_seconds between 1 and 86400
       and (result is null or octet_length(result::text) <= 1048576)
       and (artifacts is null or artifacts = '[]'::jsonb) then
      trusted := collab._caller_is_trusted();
      if (trusted or exists (select 1 from collab.executor_members m
                              where m.executor_id = complete_and_claim_v1.executor_id
                                and m.user_id = auth.uid() and m.role in ('worker', 'admin')))
         -- claim_jobs_v2's dead-letter pass has work: leave it to claim_jobs_v2
         and not exists (select 1 from collab.jobs r
                          where r.executor_id = complete_and_claim_v1.executor_id
                            and r.lease_until < now() and r.attempts >= r.max_attempts
                            and r.attempts - r.forgiven_attempts
                                - (r.solo is false and r.forgiven_attempts = 0)::integer >= r.max_attempts) then
        with target as materialized (
          select t.id, t.executor_id, t.status, t.lease_owner, t.next_run_at, t.attempts
            from collab.jobs t where t.id = complete_and_claim_v1.job_id
             for update
        ), fenced as materialized (
          select t.id from target t
           where t.status = 'running' and t.lease_owner = complete_and_claim_v1.worker_id
             and t.next_run_at >= now()
             and (complete_and_claim_v1.attempt is null or t.attempts = complete_and_claim_v1.attempt)
             and (trusted or exists (select 1 from collab.executor_members m
                                      where m.executor_id = t.executor_id and m.user_id = auth.uid()
                                        and m.role in ('worker', 'admin')))
        ), picked as materialized (
          select j.id from collab.jobs j
           where exists (select 1 from fenced)
             and j.executor_id = complete_and_claim_v1.executor_id
             and j.status in ('queued', 'running')
             and j.next_run_at <= now()
             and j.id <> complete_and_claim_v1.job_id
             and (j.status = 'queued'
                  or j.attempts - j.forgiven_attempts
                     - (j.solo is false and j.forgiven_attempts = 0)::integer < j.max_attempts)
             and (complete_and_claim_v1.type_prefix is null
                  or starts_with(j.type, complete_and_claim_v1.type_prefix))
           order by j.priority desc, j.next_run_at, j.id
           limit 1
           for update skip locked
        ), written as (
          update collab.jobs u
             set status = case when s.done then 'succeeded' else 'running' end,
                 result = case when s.done then complete_and_claim_v1.result else u.result end,
                 finished_at = case when s.done then now() else u.finished_at end,
                 updated_at = now(),
                 attempts = u.attempts + (not s.done)::integer,
                 lease_owner = case when s.done then u.lease_owner else complete_and_claim_v1.worker_id end,
                 next_run_at = case when s.done then u.next_run_at
                                    else now() + make_interval(secs => complete_and_claim_v1.lease_seconds) end,
                 started_at = case when s.done then u.started_at else now() end,
                 rescues = u.rescues + (not s.done and u.status = 'running')::integer,
                 forgiven_attempts = u.forgiven_attempts
                   + (not s.done and u.status = 'running' and u.solo is false and u.forgiven_attempts = 0)::integer,
                 solo = case when s.done then u.solo end,
                 last_error = case
                   when s.done then u.last_error
                   when u.status = 'running' and u.solo is false and u.forgiven_attempts = 0
                     then format('lease of worker %s expired (attempt not counted: other jobs ran beside it)',
                                 u.lease_owner)
                   when u.status = 'running' then format('lease of worker %s expired', u.lease_owner)
                   else u.last_error end
            from (select f.id, true as done from fenced f
                  union all
                  select p.id, false from picked p) s
           where u.id = s.id
          returning u, s.done
        )
        select bool_or(w.done), array_agg(w.u) filter (where not w.done)
          into completed, next_jobs
          from written w;
        if completed then
          return query select * from unnest(next_jobs);
          return;
        end if;
      end if;
    end if;

    -- Everything else, as before: the complete (a replay, an error), then the claim.
    perform collab.complete_job_v1(job_id => complete_and_claim_v1.job_id,
                                   worker_id => complete_and_claim_v1.worker_id,
                                   result => complete_and_claim_v1.result,
                                   artifacts => complete_and_claim_v1.artifacts,
                                   attempt => complete_and_claim_v1.attempt);
    return query
    select * from collab.claim_jobs_v2(
      executor_id => complete_and_claim_v1.executor_id,
      worker_id => complete_and_claim_v1.worker_id,
      lease_seconds => complete_and_claim_v1.lease_seconds, max_jobs => 1,
      type_prefixes => case when complete_and_claim_v1.type_prefix is null then null
                            else array[complete_and_claim_v1.type_prefix] end,
      alone => null);
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
       order by c.event_type = 'claimed', c.id
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
    if woken is not null then
      perform collab._notify_claimable(woken);
    end if;
    if random() < 1.0 / 512 then
      perform collab._fold_job_counts();
    end if;
    return null;
  end
  $fn$;
end
$migration$;
