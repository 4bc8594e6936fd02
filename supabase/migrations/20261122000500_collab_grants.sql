-- collab: who may call which RPC. EXECUTE is revoked from PUBLIC on every function of
-- the schema and granted to the roles that need it: `authenticated` (users acting on
-- their executors, checked inside each function) and `service_role`. Never `anon`.

revoke all on all functions in schema collab from public;

grant execute on function
  collab.schema_version(),
  collab.assign_jobs_v1(jsonb),
  collab.assign_job_v1(text, text, jsonb, text, integer, integer, timestamptz),
  collab.claim_jobs_v1(text, text, integer, integer, text[], text[]),
  collab.claim_one_job_v3(text, text, integer, text),
  collab.complete_job_v1(uuid, text, jsonb, jsonb, integer),
  collab.fail_job_v1(uuid, text, text, boolean, integer, integer),
  collab.extend_lease_v1(uuid, text, integer, integer),
  collab.append_job_event_v1(uuid, text, jsonb, text, integer),
  collab.add_artifacts_v1(uuid, jsonb, text),
  collab.cancel_job_v1(uuid, text),
  collab.retry_job_v1(uuid),
  collab.delete_job_v1(uuid),
  collab.purge_jobs_v1(integer, text, text[]),
  collab.dlq_retry_v1(uuid),
  collab.worker_heartbeat_v1(text, text, text, text, integer, integer, jsonb),
  collab.add_executor_member_v1(text, uuid, text),
  collab.remove_executor_member_v1(text, uuid),
  collab.get_job_v1(uuid),
  collab.events_by_job_v1(uuid, bigint, integer),
  collab.artifacts_by_job_v1(uuid),
  collab.job_summary_v1(uuid),
  collab.jobs_recent_v1(text, text, text, integer, text),
  collab.dlq_list_v1(text, integer, text, boolean),
  collab.workers_active_v1(integer, text),
  collab.stats_v1(text),
  collab.metrics_overview_v1(text),
  -- helpers that the SECURITY INVOKER read functions above call as the caller
  collab._require_visible_job(uuid),
  collab._page(jsonb, integer, integer),
  collab._cursor_encode(timestamptz, uuid),
  collab._cursor_decode(text),
  collab._raise(text, text),
  collab._check_range(text, integer, integer, integer)
to authenticated, service_role;
