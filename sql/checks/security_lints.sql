-- Supabase database-linter checks as catalog queries. Each query returns the offending
-- objects; zero rows means the check passes. tests/sql/test_security_lints.py runs them.

-- name: rls_disabled_in_exposed_schema
select format('%I.%I', n.nspname, c.relname) as object
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where n.nspname in ('collab', 'public') and c.relkind in ('r', 'p') and not c.relrowsecurity;

-- name: policy_exists_rls_disabled
select format('%I.%I', p.schemaname, p.tablename) as object
  from pg_policies p
  join pg_class c on c.relname = p.tablename
  join pg_namespace n on n.oid = c.relnamespace and n.nspname = p.schemaname
 where p.schemaname in ('collab', 'public') and not c.relrowsecurity;

-- name: rls_enabled_no_policy
select format('%I.%I', n.nspname, c.relname) as object
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where n.nspname in ('collab', 'public') and c.relkind = 'r' and c.relrowsecurity
   and not exists (select 1 from pg_policies p where p.schemaname = n.nspname and p.tablename = c.relname);

-- name: function_search_path_mutable
select p.oid::regprocedure::text as object
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 where n.nspname in ('collab', 'public')
   and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c where c like 'search_path=%');

-- name: security_definer_executable_by_anon
select p.oid::regprocedure::text as object
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 where n.nspname in ('collab', 'public') and p.prosecdef
   and has_function_privilege('anon', p.oid, 'EXECUTE');

-- name: function_executable_by_public
select p.oid::regprocedure::text as object
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 where n.nspname = 'collab'
   and (p.proacl is null  -- default privileges: PUBLIC may execute
        or exists (select 1 from aclexplode(p.proacl) a where a.grantee = 0 and a.privilege_type = 'EXECUTE'));

-- name: function_executable_by_anon
select p.oid::regprocedure::text as object
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 where n.nspname = 'collab' and has_function_privilege('anon', p.oid, 'EXECUTE');

-- name: rpc_not_executable_by_api_roles
select p.oid::regprocedure::text || ' by ' || r.rolname as object
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 cross join (values ('authenticated'), ('service_role')) as r (rolname)
 where n.nspname = 'collab' and p.prokind = 'f' and p.proname !~ '^_'
   and p.prorettype <> 'trigger'::regtype
   and not has_function_privilege(r.rolname, p.oid, 'EXECUTE');

-- name: policy_uses_user_metadata
select format('%I.%I %I', schemaname, tablename, policyname) as object
  from pg_policies
 where coalesce(qual, '') ~* 'user_metadata' or coalesce(with_check, '') ~* 'user_metadata';

-- name: view_without_security_invoker
select format('%I.%I', n.nspname, c.relname) as object
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where n.nspname in ('collab', 'public') and c.relkind = 'v'
   and not coalesce(c.reloptions, '{}') @> array['security_invoker=true']
   and not coalesce(c.reloptions, '{}') @> array['security_invoker=on'];

-- name: table_writable_by_api_users
select format('%I.%I %s %s', n.nspname, c.relname, r.rolname, w.privilege) as object
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 cross join (values ('anon'), ('authenticated')) as r (rolname)
 cross join (values ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE')) as w (privilege)
 where n.nspname = 'collab' and c.relkind = 'r'
   and has_table_privilege(r.rolname, c.oid, w.privilege);
