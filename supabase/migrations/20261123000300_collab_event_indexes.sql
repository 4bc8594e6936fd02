-- collab: job_events loses its per-executor index.
--
-- Every transition inserts an event, so each index on job_events costs three entries
-- per job (queued, claimed, succeeded). No RPC reads events by executor: reads go by job
-- (job_events_job_idx) or follow the log by seq (the primary key). A reader following
-- one executor's events after a seq scans the primary key from that seq and filters,
-- which stays cheap while it keeps up with the log.
drop index collab.job_events_executor_idx;
