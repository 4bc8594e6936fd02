-- collab: the one-job claims call claim_jobs_v2 directly (signatures and behaviour unchanged).
--
-- claim_jobs_v1 is claim_jobs_v2 with alone => null, itself a plpgsql function: each hop
-- is a call and a tuplestore the rows are copied through. claim_one_job_v3 and
-- complete_and_claim_v1 went through both (claim_one_job_v3 -> claim_jobs_v1 ->
-- claim_jobs_v2); they now call claim_jobs_v2 with alone => null themselves, which is
-- exactly what claim_jobs_v1 does, so checks, errors, events and the dead-letter rule are
-- the same. (The SDK's Worker already calls claim_jobs_v2.)

create or replace function collab.claim_one_job_v3(
  executor_id text, worker_id text, lease_seconds integer default 60,
  type_prefix text default null)
  returns setof collab.jobs
  language plpgsql security definer set search_path = ''
as $$
begin
  return query
  select * from collab.claim_jobs_v2(
    executor_id => claim_one_job_v3.executor_id, worker_id => claim_one_job_v3.worker_id,
    lease_seconds => claim_one_job_v3.lease_seconds, max_jobs => 1,
    type_prefixes => case when claim_one_job_v3.type_prefix is null then null
                          else array[claim_one_job_v3.type_prefix] end,
    alone => null);
end
$$;

create or replace function collab.complete_and_claim_v1(
  job_id uuid, worker_id text, executor_id text, result jsonb default null,
  artifacts jsonb default '[]', attempt integer default null,
  lease_seconds integer default 60, type_prefix text default null)
  returns setof collab.jobs
  language plpgsql set search_path = ''
as $$
begin
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
$$;
