-- collab: default privileges that hold (issue 20, item 4).
--
-- `alter default privileges in schema collab revoke execute on functions from public`
-- (20261122000100, and the same for collab_private in 20261201002000) has no effect:
-- per-schema default privileges are only *added* to the global ones, and PostgreSQL's
-- global default lets PUBLIC execute every new function. So a function that a later
-- migration forgot to revoke by hand was executable by `anon` and `authenticated`
-- (members of PUBLIC), and PostgREST serves it. Only a global default of the role that
-- creates the function takes the grant away:
--   alter default privileges for role R revoke execute on functions from public
-- (functions and procedures alike).
--
-- R: the role running this migration, which owns what collab's migrations create
-- (`postgres` under the supabase CLI, `supabase db push` and on a Supabase project; the
-- connecting user under `collab db migrate`), and Supabase's `postgres` and
-- `supabase_admin` where they exist and the migrator may act for them (a NOTICE says so
-- where it may not, and nothing changes for that role).
--
-- Global means every schema: R's new functions outside collab lose PUBLIC's EXECUTE
-- too. So that a project's own `public` schema behaves as before, R's new functions
-- there are still granted to PUBLIC (a per-schema default, which adds to the global
-- one). Every grant collab's functions need stays explicit, per function, as before.
-- tests/migrations/test_default_privileges.py creates probe functions after migrating
-- and checks that `anon` and `authenticated` cannot execute them.

do $$
declare
  r text;
begin
  for r in select distinct u.name
             from unnest(array[current_user::text, 'postgres', 'supabase_admin']) as u (name)
             join pg_catalog.pg_roles g on g.rolname = u.name
  loop
    begin
      execute format('alter default privileges for role %I revoke execute on functions from public', r);
      if to_regnamespace('public') is not null then
        execute format('alter default privileges for role %I in schema public grant execute on functions to public', r);
      end if;
    exception when insufficient_privilege then
      raise notice 'collab: the default privileges of role % stay as they are: %', r, sqlerrm;
    end;
  end loop;
end
$$;
