-- collab: an executor's members (issue 18, `collab members list`).
--
-- RLS on collab.executor_members shows a user only its own rows (`members_read_own`), so an
-- invoker read cannot show an admin the other members of its executor, and a policy that
-- let admins read them would have to query the same table from its own policy. Like the
-- two membership writes, this read is SECURITY DEFINER and checks the caller itself:
-- trusted callers and admins of the executor (`_require_member`, CL403 otherwise).

create function collab.executor_members_v1(executor_id text)
  returns setof collab.executor_members
  language plpgsql stable security definer set search_path = ''
as $$
begin
  perform collab._check_name('executor_id', executor_id);
  perform collab._require_member(executor_id, '{admin}');
  return query
    select m.* from collab.executor_members m
     where m.executor_id = executor_members_v1.executor_id
     order by m.created_at, m.user_id;
end
$$;
comment on function collab.executor_members_v1(text) is
  'The members of an executor (executor_id, user_id, role, created_at), oldest first; trusted callers and admins of the executor';

revoke all on function collab.executor_members_v1(text) from public;
grant execute on function collab.executor_members_v1(text) to authenticated, service_role;
