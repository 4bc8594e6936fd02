-- collab: who may read and write collab's private Realtime channels, as RLS policies on
-- realtime.messages (Supabase Realtime Authorization). Applied only where Supabase
-- Realtime's schema exists; elsewhere this migration does nothing.
--
-- Realtime checks a private channel when it is joined (and again when the token is
-- refreshed): it sets `role`, `request.jwt.claims` and `realtime.topic` (read by
-- realtime.topic()), then tries to SELECT (read: receive broadcasts, see presence) and
-- to INSERT (write: send broadcasts, track presence) rows of that topic whose
-- `extension` is 'broadcast' or 'presence', and rolls back. A join without a passing
-- read is refused. The service role bypasses RLS; anon gets no policy, so nothing.
--
-- The topics (docs/sdk.md, "Realtime channels and presence"):
--   jobs:{jobId}     broadcasts of one job: read by any member of the job's executor;
--                    written by a worker or admin member of that executor while the job
--                    is running (Realtime caches the answer for the channel's life, so
--                    the worker's final broadcast after its complete still goes out)
--   agents:{agentId} a worker's presence and broadcasts: read by any member of the
--                    executor of the heartbeat row `agentId`; written (presence and
--                    broadcast) by a worker or admin member of that executor
--   system:events    agent.started / agent.stopped: read by anyone who is a member of
--                    some executor; written by the service role only
--   queue:{executor} jobs.claimable wake-ups sent by the database (realtime.send, see
--                    20261201012000_collab_claim_broadcasts.sql): read by worker and
--                    admin members of that executor; written by the database only
--   collab:job_events:{n}  a `watch` stream's channel for postgres_changes (private, so
--                    it works where public channels are turned off): joined by anyone
--                    who is a member of some executor; nothing is broadcast on it, and
--                    the rows pushed are filtered by collab.job_events' own RLS
--
-- Inline expressions only (no helper functions): `collab.*` tables are read as the
-- caller, so their own RLS (members_read_own, jobs_read_member, heartbeats_read_member)
-- applies as well. These are permissive policies: any other permissive policy of the
-- project on realtime.messages widens access to the same topics.

do $$
begin
  if to_regclass('realtime.messages') is null then
    return;
  end if;

  create policy collab_topics_read on realtime.messages
    for select to authenticated
    using (
      case
        when starts_with((select realtime.topic()), 'jobs:') then
          realtime.messages.extension = 'broadcast'
          and exists (
            select 1 from collab.jobs j
              join collab.executor_members m on m.executor_id = j.executor_id
             where j.id = (case when substr((select realtime.topic()), 6)
                                     ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
                                then substr((select realtime.topic()), 6)::uuid end)
               and m.user_id = (select auth.uid()))
        when starts_with((select realtime.topic()), 'agents:') then
          realtime.messages.extension in ('broadcast', 'presence')
          and exists (
            select 1 from collab.worker_heartbeats_v2 h
              join collab.executor_members m on m.executor_id = h.executor_id
             where h.worker_id = substr((select realtime.topic()), 8)
               and m.user_id = (select auth.uid()))
        when (select realtime.topic()) = 'system:events'
             or starts_with((select realtime.topic()), 'collab:job_events:') then
          realtime.messages.extension = 'broadcast'
          and exists (select 1 from collab.executor_members m where m.user_id = (select auth.uid()))
        when starts_with((select realtime.topic()), 'queue:') then
          realtime.messages.extension = 'broadcast'
          and exists (
            select 1 from collab.executor_members m
             where m.executor_id = substr((select realtime.topic()), 7)
               and m.user_id = (select auth.uid()) and m.role in ('worker', 'admin'))
        else false
      end);

  create policy collab_topics_write on realtime.messages
    for insert to authenticated
    with check (
      case
        when starts_with((select realtime.topic()), 'jobs:') then
          realtime.messages.extension = 'broadcast'
          and exists (
            select 1 from collab.jobs j
              join collab.executor_members m on m.executor_id = j.executor_id
             where j.id = (case when substr((select realtime.topic()), 6)
                                     ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
                                then substr((select realtime.topic()), 6)::uuid end)
               and j.status = 'running'
               and m.user_id = (select auth.uid()) and m.role in ('worker', 'admin'))
        when starts_with((select realtime.topic()), 'agents:') then
          realtime.messages.extension in ('broadcast', 'presence')
          and exists (
            select 1 from collab.worker_heartbeats_v2 h
              join collab.executor_members m on m.executor_id = h.executor_id
             where h.worker_id = substr((select realtime.topic()), 8)
               and m.user_id = (select auth.uid()) and m.role in ('worker', 'admin'))
        else false
      end);
end
$$;
