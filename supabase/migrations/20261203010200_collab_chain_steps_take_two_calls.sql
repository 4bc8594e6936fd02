-- collab: a workflow step's complete_and_claim_v1 claims its successor in the same call again.
--
-- Completing a workflow step enqueues its successors from an AFTER trigger at the end of
-- the completing statement. With the complete and the claim as two statements
-- (before 20261203010000) the claim saw them, so completing step A of A -> B returned B
-- leased to the same worker; in the one statement the next job is picked before the
-- trigger runs, so it returned nothing (B stayed queued for the next claim). A step's
-- job now takes the two-call path (complete_job_v1, then claim_jobs_v2), as every other
-- case the one statement does not cover does; plain jobs keep the one statement.
--
-- Otherwise the body is 20261203010100's. One statement (a DO block), as there.

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
          select t.id, t.executor_id, t.status, t.lease_owner, t.next_run_at, t.attempts,
                 t.workflow_run_id
            from collab.jobs t where t.id = complete_and_claim_v1.job_id
             for update
        ), fenced as materialized (
          select t.id from target t
           where t.workflow_run_id is null  -- a step's successors: see the migration's header
             and t.status = 'running' and t.lease_owner = complete_and_claim_v1.worker_id
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


end
$migration$;
