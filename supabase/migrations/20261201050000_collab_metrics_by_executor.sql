-- collab: the engine's counts for Prometheus, one series per executor (issue 18).
--
-- `collab serve`'s /metrics exports jobs by executor, type and state. metrics_overview_v1
-- answers for one executor or for all of them summed; asking it once per executor would
-- need the executor list first and cost one call each. This read groups the jobs once by
-- (executor, type, status), and counts the dead letters not yet retried and the active
-- workers by executor, in one statement. SECURITY INVOKER like every read: RLS shows a
-- user only the executors it is a member of, a trusted caller sees all.

create function collab.metrics_by_executor_v1()
  returns jsonb
  language sql stable set search_path = ''
as $$
  select jsonb_build_object(
    'generatedAt', now(),
    'jobs', coalesce((
      select jsonb_agg(jsonb_build_object('executorId', c.executor_id, 'type', c.type,
                                          'state', c.status, 'count', c.n)
                       order by c.executor_id, c.type, c.status)
        from (select j.executor_id, j.type, j.status, count(*) as n
                from collab.jobs j
               group by j.executor_id, j.type, j.status) c), '[]'::jsonb),
    'deadLetters', coalesce((
      select jsonb_object_agg(d.executor_id, d.n)
        from (select dl.executor_id, count(*) as n
                from collab.job_dead_letters dl
               where dl.retried_at is null
               group by dl.executor_id) d), '{}'::jsonb),
    'activeWorkers', coalesce((
      select jsonb_object_agg(w.executor_id, w.n)
        from (select a.executor_id, count(*) as n
                from collab.workers_active_v1(20) a
               group by a.executor_id) w), '{}'::jsonb))
$$;
comment on function collab.metrics_by_executor_v1() is
  'Job counts by executor, type and state, dead letters not yet retried and active workers by executor (Prometheus /metrics)';

revoke all on function collab.metrics_by_executor_v1() from public;
grant execute on function collab.metrics_by_executor_v1() to authenticated, service_role;
