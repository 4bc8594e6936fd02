-- collab: the claim's dead-letter probe gets an index of its own.
--
-- jobs_running_idx held every running job, so every claim added an entry to it, and the
-- probe for expired leases at max_attempts (claim_jobs_v1) filtered its way through it.
-- The new index holds only running jobs on their last attempt, which is what the probe
-- asks for: most claims never write to it, and the probe reads an almost empty index.
-- Its predicate names lease_until (set exactly while running) rather than status, so a
-- query that asks for it never also matches the claim index's predicate: that index is
-- empty whenever the queue is, and a planner with statistics from such a moment would
-- take it for free and scan the whole backlog (it did, in the benchmark).
create index jobs_exhausted_idx on collab.jobs (executor_id, lease_until)
  where lease_until is not null and attempts >= max_attempts;
drop index collab.jobs_running_idx;
