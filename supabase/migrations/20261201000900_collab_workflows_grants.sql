-- collab workflows: who may call which RPC. As for the queue: EXECUTE is revoked from
-- PUBLIC on every function of the schema and granted to `authenticated` (users acting on
-- their executors, checked inside each function) and `service_role`; never `anon`.
-- Helpers are granted only where a SECURITY INVOKER RPC calls them as the caller.

revoke all on all functions in schema collab from public;

grant execute on function
  -- catalog
  collab.register_step_types_v1(text, jsonb),
  collab.step_types_v1(text),
  -- definitions
  collab.validate_definition_v1(text, jsonb),
  collab.create_workflow_v1(text, text, text, jsonb, jsonb),
  collab.update_workflow_v1(uuid, text, text, jsonb, jsonb),
  collab.delete_workflow_v1(uuid),
  collab.publish_workflow_v1(uuid),
  collab.duplicate_workflow_v1(uuid, text),
  collab.archive_workflow_v1(uuid),
  collab.get_workflow_v1(uuid),
  collab.validate_workflow_v1(uuid),
  collab.workflows_v1(text, text, integer, text),
  -- runs
  collab.start_run_v1(uuid, jsonb, text),
  collab.get_run_v1(uuid),
  collab.run_steps_v1(uuid),
  collab.runs_v1(uuid, text, text, integer, text),
  collab.run_events_after_v1(uuid, bigint, integer, bigint, text),
  collab.run_snapshot_v1(uuid),
  collab.resume_run_v1(uuid, text, jsonb),
  collab.cancel_run_v1(uuid, text),
  collab.retry_run_v1(uuid),
  -- schedules
  collab.cron_next_v1(text, text, timestamptz),
  collab.create_schedule_v1(uuid, text, text, jsonb, boolean),
  collab.update_schedule_v1(uuid, text, text, jsonb, boolean),
  collab.delete_schedule_v1(uuid),
  collab.schedules_v1(uuid, text),
  collab.fire_due_schedules_v1(text),
  collab.install_cron_v1(),
  -- webhooks
  collab.create_webhook_secret_v1(uuid),
  collab.webhook_secret_info_v1(uuid),
  collab.delete_webhook_secret_v1(uuid),
  collab.webhook_start_run_v1(uuid, text, text, text),
  -- helpers that the SECURITY INVOKER reads above call as the caller
  collab._require_visible_workflow(uuid),
  collab._require_visible_run(uuid),
  collab._cron_next(text, text, timestamptz),
  collab._cron_field(text, text, integer, integer, text[])
to authenticated, service_role;
