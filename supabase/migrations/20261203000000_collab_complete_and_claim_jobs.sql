-- collab: complete_and_claim_jobs_v1, a worker's batch complete and its next batch claim
-- in one call and one transaction (issue 19).
--
-- A worker under load completes a batch of results and claims a batch of jobs at about
-- the same time; as two RPCs that is two round trips, two statements and two commits
-- (WAL flushes) per batch. This function calls complete_jobs_v1 and then claim_jobs_v2
-- (their checks, fencing, events and crash isolation unchanged, and it defines neither):
-- one round trip and one commit. It answers one JSON object,
--   {"lost": [ids of completions left out], "jobs": [claimed jobs, in claim order]}
-- so a client reads the whole answer in one parse instead of a value per column:
-- "lost" names the listed jobs complete_jobs_v1 did not complete (their lease was lost:
-- usually none, so a client needs no set of the completed ids), "jobs" are the rows
-- claim_jobs_v2 returns (with rescues, solo and trace_context). max_jobs 0 claims
-- nothing (a complete alone); no completions is a claim alone. An error in either part
-- rolls back both: a bad result (CL400/CL413) claims nothing and completes nothing.
-- Security invoker, as complete_and_claim_v1: the two functions check the caller.

create function collab.complete_and_claim_jobs_v1(
  executor_id text, worker_id text, completions jsonb default '[]',
  max_jobs integer default 10, lease_seconds integer default 60,
  type_prefixes text[] default null, types text[] default null, alone boolean default false)
  returns json
  language plpgsql set search_path = ''
as $$
declare
  done uuid[];
  lost json := '[]';
  jobs json := '[]';
begin
  if completions is distinct from '[]'::jsonb then
    done := array(select d.id from collab.complete_jobs_v1(
                    worker_id => complete_and_claim_jobs_v1.worker_id,
                    completions => complete_and_claim_jobs_v1.completions) d);
    if cardinality(done) < jsonb_array_length(completions) then
      select coalesce(json_agg(c.v -> 'job_id'), '[]') into lost
        from jsonb_array_elements(completions) as c (v)
       where (c.v ->> 'job_id')::uuid <> all (done);
    end if;
  end if;
  if max_jobs is distinct from 0 then  -- claim_jobs_v2 checks the range (1 to 1000)
    -- json_agg reads the function's rows in the order it returned them: claim order.
    select coalesce(json_agg(c), '[]') into jobs
      from collab.claim_jobs_v2(
             executor_id => complete_and_claim_jobs_v1.executor_id,
             worker_id => complete_and_claim_jobs_v1.worker_id,
             lease_seconds => complete_and_claim_jobs_v1.lease_seconds,
             max_jobs => complete_and_claim_jobs_v1.max_jobs,
             type_prefixes => complete_and_claim_jobs_v1.type_prefixes,
             types => complete_and_claim_jobs_v1.types,
             alone => complete_and_claim_jobs_v1.alone) c;
  end if;
  return json_build_object('lost', lost, 'jobs', jobs);
end
$$;

revoke all on function collab.complete_and_claim_jobs_v1(text, text, jsonb, integer, integer, text[], text[], boolean)
  from public;
grant execute on function collab.complete_and_claim_jobs_v1(text, text, jsonb, integer, integer, text[], text[], boolean)
  to authenticated, service_role;
