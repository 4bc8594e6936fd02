-- collab: the caller's own memberships (issue 14).
--
-- The workflow API resolves an omitted `executor_id` to the caller's executor when the
-- caller is a member of exactly one; nothing listed a caller's memberships before. A
-- SECURITY INVOKER read: RLS on collab.executor_members (`members_read_own`) already
-- shows a user only its own rows, and the filter on auth.uid() keeps a trusted caller
-- (service role, direct connection: no `sub`) from listing everyone's.

create function collab.my_executors_v1()
  returns setof collab.executor_members
  language sql stable set search_path = ''
as $$
  select m.*
    from collab.executor_members m
   where m.user_id = (select auth.uid())
   order by m.executor_id
$$;
comment on function collab.my_executors_v1() is
  'The caller''s memberships (executor_id, user_id, role, created_at), by executor id; none without a sub';

revoke all on function collab.my_executors_v1() from public;
grant execute on function collab.my_executors_v1() to authenticated, service_role;
