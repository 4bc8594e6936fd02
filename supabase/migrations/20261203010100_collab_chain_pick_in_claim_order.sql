-- collab: the claims' next jobs are always read from the claim index in order.
--
-- Its one statement (20261203010000) runs one generic plan per session, made with the
-- statistics of the session's first call. Statistics taken while the queue was empty
-- (see "The claim index is empty whenever the queue is" in docs/design.md) made the
-- planner pick the next job by reading every due job of the executor and sorting them
-- (a bitmap scan of jobs_claim_idx, then a sort: 0.37 ms for 1,000 due jobs against
-- 0.01 ms for the ordered index scan, and linear in the backlog), because it expected
-- a handful of rows. The function now runs with `enable_sort = off`, so the ordered scan
-- of jobs_claim_idx is the only plan left without a sort. `jit = off` goes with it: a
-- plan that still needs its sort carries the planner's disable cost, far above
-- `jit_above_cost`, and was JIT-compiled on every call (350 ms). The functions of the
-- slow path (complete_job_v1, claim_jobs_v2) inherit both settings when they run under
-- it: their plans keep the sorts they need (there is no other plan for those) and take
-- ordered index scans where they can, as they do anyway, and are never compiled.
-- claim_jobs_v2 had the same trap (measured on PostgreSQL 15: statistics of a 10-job
-- queue, then 2,000 due jobs: a sequential scan of collab.jobs and a sort for every
-- claim) and gets the same two settings (ALTER FUNCTION: its body is unchanged).
-- Plan tests pin the ordered scans with a short queue's statistics.
--
-- complete_and_claim_v1's body is 20261203010000's, unchanged. One statement (a DO
-- block), as there.

do $migration$
begin
  create or replace function collab.complete_and_claim_v1(
    job_id uuid, worker_id text, executor_id text, result jsonb default null,
    artifacts jsonb default '[]', attempt integer default null, lease_seconds integer default 60,
    type_prefix text default null)
  returns setof collab.jobs
  language plpgsql security definer set search_path = '' set plan_cache_mode = force_generic_plan
    set enable_sort = off set jit = off
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


  alter function collab.claim_jobs_v2(text, text, integer, integer, text[], text[], boolean)
    set enable_sort = off;
  alter function collab.claim_jobs_v2(text, text, integer, integer, text[], text[], boolean)
    set jit = off;
end
$migration$;
