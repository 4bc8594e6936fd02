-- collab jobs: seven of collab.jobs' nine CHECK constraints become domain types.
--
-- PostgreSQL reads a table's CHECK constraints back from their stored node text
-- (pg_constraint.conbin: stringToNode, then expression planning) in every INSERT or UPDATE
-- statement, per statement and not per backend, and an UPDATE evaluates every CHECK of the
-- table whichever columns it sets. collab.jobs had nine, read by every enqueue, claim and
-- complete. Measured with valgrind (bench/workflow_instructions.py, bench/README.md
-- "jobs' CHECKs as domains"): dropping all nine takes 16 % off a plain job's claim +
-- complete instructions.
--
-- A domain's CHECK is read once per backend (the type cache keeps the parsed expression)
-- and is evaluated only for the columns a statement assigns. The same rules, as domains,
-- with the same constraint names: type, executor_id, attempts, max_attempts,
-- idempotency_key, rescues, forgiven_attempts. A violation is still SQLSTATE 23514
-- (check_violation) naming the same constraint; only the message changes ("value for
-- domain collab.job_type violates check constraint "jobs_type_check"" instead of "new row
-- for relation "jobs" violates ..."); nothing maps these errors by message. Clients see the
-- base types (a row description, and PostgREST, name a domain column's base type).
--
-- Two CHECKs stay on the table: jobs_running_has_owner spans two columns, and status
-- cannot change type while the generated column lease_until is computed from it
-- (PostgreSQL refuses ALTER COLUMN ... TYPE on a column a generated column uses).
--
-- Cost on a big table: no rewrite. Each domain is created without its CHECK, so retyping a
-- column to a domain over its own type rewrites nothing and keeps its indexes (same
-- operator class); then ADD CONSTRAINT on the domain validates it by one scan of
-- collab.jobs under a SHARE lock (writes wait, reads go on), seven scans in all; then the
-- table's CHECK goes. Every row is checked by one of the two at every point (the supabase
-- CLI runs these statements one by one).

create domain collab.job_type as text;
create domain collab.job_executor_id as text;
create domain collab.job_attempts as integer;
create domain collab.job_max_attempts as integer;
create domain collab.job_idempotency_key as text;
create domain collab.job_rescues as integer;
create domain collab.job_forgiven_attempts as integer;

-- PostgreSQL will not retype a column a policy uses: jobs_read_member (collab.jobs) and,
-- where Supabase Realtime's schema exists, collab_topics_read / collab_topics_write
-- (realtime.messages, 20261201010000) name executor_id. Every policy that depends on one of
-- the seven columns is read back from the catalog, dropped, and made again as it was, in
-- the same statement as the retyping (one DO block: no moment without them).
do $$
declare
  policy record;
  remade text[] := '{}';
  statement text;
begin
  for policy in
    select distinct p.policyname, p.schemaname, p.tablename, p.permissive, p.cmd, p.roles, p.qual, p.with_check
      from pg_policy pol
      join pg_depend d on d.classid = 'pg_policy'::regclass and d.objid = pol.oid
      join pg_class c on c.oid = pol.polrelid
      join pg_namespace n on n.oid = c.relnamespace
      join pg_policies p on p.schemaname = n.nspname and p.tablename = c.relname and p.policyname = pol.polname
     where d.refclassid = 'pg_class'::regclass and d.refobjid = 'collab.jobs'::regclass
       and d.refobjsubid in (select a.attnum from pg_attribute a
                              where a.attrelid = 'collab.jobs'::regclass
                                and a.attname in ('type', 'executor_id', 'attempts', 'max_attempts',
                                                  'idempotency_key', 'rescues', 'forgiven_attempts'))
  loop
    remade := remade || format('create policy %I on %I.%I as %s for %s to %s%s%s',
      policy.policyname, policy.schemaname, policy.tablename, policy.permissive, policy.cmd,
      (select string_agg(case when r = 'public' then 'public' else quote_ident(r) end, ', ')
         from unnest(policy.roles) r),
      coalesce(' using (' || policy.qual || ')', ''),
      coalesce(' with check (' || policy.with_check || ')', ''));
    execute format('drop policy %I on %I.%I', policy.policyname, policy.schemaname, policy.tablename);
  end loop;

  alter table collab.jobs
    alter column type type collab.job_type,
    alter column executor_id type collab.job_executor_id,
    alter column attempts type collab.job_attempts,
    alter column max_attempts type collab.job_max_attempts,
    alter column idempotency_key type collab.job_idempotency_key,
    alter column rescues type collab.job_rescues,
    alter column forgiven_attempts type collab.job_forgiven_attempts;

  foreach statement in array remade loop
    execute statement;
  end loop;
end
$$;

alter domain collab.job_type add constraint jobs_type_check
  check (char_length(value) >= 1 and char_length(value) <= 200);
alter domain collab.job_executor_id add constraint jobs_executor_id_check
  check (char_length(value) >= 1 and char_length(value) <= 200);
alter domain collab.job_attempts add constraint jobs_attempts_check
  check (value >= 0);
alter domain collab.job_max_attempts add constraint jobs_max_attempts_check
  check (value >= 1 and value <= 1000);
alter domain collab.job_idempotency_key add constraint jobs_idempotency_key_check
  check (char_length(value) >= 1 and char_length(value) <= 255);
alter domain collab.job_rescues add constraint jobs_rescues_check
  check (value >= 0);
alter domain collab.job_forgiven_attempts add constraint jobs_forgiven_attempts_check
  check (value >= 0 and value <= 1);

alter table collab.jobs
  drop constraint jobs_type_check,
  drop constraint jobs_executor_id_check,
  drop constraint jobs_attempts_check,
  drop constraint jobs_max_attempts_check,
  drop constraint jobs_idempotency_key_check,
  drop constraint jobs_rescues_check,
  drop constraint jobs_forgiven_attempts_check;
