-- NOTIFY collab_jobs only while a worker of the executor waits for one.
--
-- pg_notify makes the commit of every notifying transaction take one cluster-wide lock
-- (PreCommit_Notify's AccessExclusiveLock on pg_database/0) and hold it through the
-- commit's WAL flush, so notifying commits run one at a time. A workflow step's
-- completion enqueues its successors and so notified on every step: with four busy
-- workers that lock was the drain's largest wait (bench/workflows.py --waits). A worker
-- whose slots are all busy, or whose last claim came back full, needs no wake-up: it
-- claims again when a slot frees. So the engine now notifies an executor only while one
-- of its workers says it waits (docs/design.md, "Wake-ups only for waiting workers").
--
-- Two advisory-lock keys per executor (classid, hashtext(executor_id)):
--  * WAITING (classid 1668246640): held shared, at session level, by the LISTEN session
--    of every worker of the executor that waits for jobs (collab.wait_for_jobs_v1 takes
--    it, collab.stop_waiting_for_jobs_v1 or the session's end releases it). A writer
--    that makes the executor's jobs claimable probes it (a try-lock taken exclusive and
--    released at once): held means someone waits, and the writer notifies.
--  * NOTIFYING (classid 1668246641): held shared by every such writer from its probe to
--    its commit. A worker that has just taken WAITING tries NOTIFYING exclusive once: a
--    writer that probed before the worker waited and has not committed yet (its job
--    invisible to the worker's claim, its NOTIFY skipped) makes the try fail, and the
--    worker claims again shortly instead of sleeping until its poll. The try never
--    waits, so neither side ever waits on the other for more than a probe (no deadlock).
-- A hash collision between two executors only sends a NOTIFY nobody needed. More than 8
-- executors in one statement still send one '*' unconditionally (rare; workers all look).
-- Realtime broadcasts (Supabase) are unchanged: they are sent as before.

create function collab._notify_waiting_workers(executor_ids text[]) returns void
  language plpgsql set search_path = ''
as $$
declare
  e text;
begin
  if executor_ids is null or cardinality(executor_ids) = 0 then
    return;
  end if;
  if cardinality(executor_ids) > 8 then
    perform pg_notify('collab_jobs', '*');
    return;
  end if;
  foreach e in array executor_ids loop
    perform pg_advisory_xact_lock_shared(1668246641, hashtext(e));  -- NOTIFYING, to commit
    if pg_try_advisory_lock(1668246640, hashtext(e)) then            -- WAITING: nobody holds it
      perform pg_advisory_unlock(1668246640, hashtext(e));
    else
      perform pg_notify('collab_jobs', e);
    end if;
  end loop;
end
$$;

create or replace function collab._notify_claimable(executor_ids text[]) returns void
  language plpgsql set search_path = ''
as $$
begin
  perform collab._notify_waiting_workers(executor_ids);
end
$$;

-- Where Supabase Realtime exists: the body of 20261202020000_collab_wakeups_per_transaction.sql
-- with its NOTIFY going through collab._notify_waiting_workers.
do $$
begin
  if to_regprocedure('realtime.send(jsonb, text, text, boolean)') is null then
    return;
  end if;

  create or replace function collab._notify_claimable(executor_ids text[]) returns void
    language plpgsql set search_path = ''
  as $f$
  declare
    sent text[] := coalesce(nullif(current_setting('collab.claim_hints', true), ''), '{}');
    fresh text[];
  begin
    if executor_ids is null or cardinality(executor_ids) = 0 then
      return;
    end if;
    perform collab._notify_waiting_workers(executor_ids);
    fresh := array(select distinct e from unnest(executor_ids) as e where e <> all (sent));
    if cardinality(fresh) > 0 then
      perform realtime.send(jsonb_build_object('executorId', e), 'jobs.claimable', 'queue:' || e, true)
         from unnest(fresh) as e;
      perform set_config('collab.claim_hints', (sent || fresh)::text, true);
    end if;
  end
  $f$;
end
$$;

-- A worker's LISTEN session starts waiting for executor_id's jobs: from now on every
-- transaction that makes them claimable sends NOTIFY collab_jobs, until
-- stop_waiting_for_jobs_v1 or the session ends. Answers whether no such transaction
-- that skipped its NOTIFY is still uncommitted: true, and a claim made after this call
-- sees every job that will not be notified; false, and the caller claims again shortly.
-- Idempotent (the session holds the lock once, whatever the calls).
create function collab.wait_for_jobs_v1(executor_id text) returns boolean
  language plpgsql volatile set search_path = ''
as $$
declare
  held text[] := coalesce(nullif(current_setting('collab.waiting_for', true), ''), '{}');
begin
  if executor_id is null or executor_id = '' then
    raise exception 'executor_id is required' using errcode = 'CL400';
  end if;
  if not executor_id = any (held) then
    perform pg_advisory_lock_shared(1668246640, hashtext(executor_id));
    perform set_config('collab.waiting_for', (held || executor_id)::text, false);
  end if;
  if pg_try_advisory_lock(1668246641, hashtext(executor_id)) then
    perform pg_advisory_unlock(1668246641, hashtext(executor_id));
    return true;
  end if;
  return false;
end
$$;

-- The session stops waiting for executor_id's jobs (its busy worker needs no wake-up);
-- nothing when it was not waiting.
create function collab.stop_waiting_for_jobs_v1(executor_id text) returns void
  language plpgsql volatile set search_path = ''
as $$
declare
  held text[] := coalesce(nullif(current_setting('collab.waiting_for', true), ''), '{}');
begin
  if executor_id = any (held) then
    perform pg_advisory_unlock_shared(1668246640, hashtext(executor_id));
    perform set_config('collab.waiting_for', array_remove(held, executor_id)::text, false);
  end if;
end
$$;

revoke all on function collab.wait_for_jobs_v1(text), collab.stop_waiting_for_jobs_v1(text) from public;
grant execute on function collab.wait_for_jobs_v1(text), collab.stop_waiting_for_jobs_v1(text)
  to authenticated, service_role;
-- The jobs triggers' helpers, as collab._notify_claimable (20261129000200): the RPCs run
-- as the owner, and the service role may write the tables directly.
grant execute on function collab._notify_waiting_workers(text[]) to service_role;
