-- collab: wake-ups once per transaction, not once per statement (issue 20, item 2).
--
-- The statement triggers notified once per *statement*: 10,000 single-job assigns in one
-- transaction sent 10,000 `collab_events` notifications, because each payload carried the
-- statement's max(seq) and its job, and Postgres folds only identical (channel, payload)
-- pairs of a transaction. NOTIFY takes a global lock at commit, and every listener then
-- woke 10,000 times for one commit. (`collab_jobs` payloads are executor ids, which
-- Postgres already folds, but every statement still called pg_notify, and on Supabase
-- inserted one `realtime.messages` row per statement: a broadcast per statement.)
--
-- Now a transaction remembers what it has hinted in a transaction-local setting
-- (set_config(..., true): it ends with the transaction, and a rolled-back savepoint takes
-- it back together with the notifications queued under it, so a hint is never recorded
-- without being sent):
--   collab_events: per executor, a hint naming each job it touches, up to 4 jobs; the 5th
--     job sends one hint naming the executor only ({executor_id, job_id: null}) and then
--     nothing more for that executor; more than 8 executors in one statement send one
--     hint naming nothing, and then the transaction sends no more. The payload no longer
--     carries a seq: readers never used it (they read from their own seq).
--   collab_jobs: unchanged (Postgres folds its payloads: one notification per executor
--     and transaction already), but one Realtime broadcast per executor and transaction
--     where Supabase Realtime exists, instead of one per statement.
-- So a transaction sends at most 5 hints per executor it touches, however many
-- statements it runs. A hint is still only a hint: readers catch up by seq, and a hint
-- naming no job wakes every job stream (bench/notify_per_transaction.py measured this
-- against a payload Postgres folds: docs/design.md, "Events and wake-ups").

-- Send the collab_events hints of one statement that the transaction has not sent yet:
-- executor_ids[i] with job_ids[i] (null: the statement touched several of its jobs).
-- The setting `collab.event_hints` is {executor: [jobs hinted] or null (all)}, or
-- {"*": null} once everything was hinted.
create function collab._hint_event_readers(executor_ids text[], job_ids text[]) returns void
  language plpgsql set search_path = ''
as $$
declare
  sent jsonb := coalesce(nullif(current_setting('collab.event_hints', true), ''), '{}');
  was constant jsonb := sent;
  named jsonb;
  job text;
begin
  if sent ? '*' then
    return;
  end if;
  if cardinality(executor_ids) > 8 then
    perform pg_notify('collab_events', json_build_object('executor_id', null, 'job_id', null)::text);
    perform set_config('collab.event_hints', '{"*": null}', true);
    return;
  end if;
  for i in 1 .. coalesce(cardinality(executor_ids), 0) loop
    named := sent -> executor_ids[i];  -- sql null: nothing yet; json null: every job
    job := job_ids[i];
    continue when named = 'null' or named ? job;
    if job is null or jsonb_array_length(coalesce(named, '[]')) >= 4 then
      job := null;
      named := 'null';
    else
      named := coalesce(named, '[]') || to_jsonb(job);
    end if;
    perform pg_notify('collab_events',
                      json_build_object('executor_id', executor_ids[i], 'job_id', job)::text);
    sent := jsonb_set(sent, array[executor_ids[i]], named);
  end loop;
  if sent <> was then
    perform set_config('collab.event_hints', sent::text, true);
  end if;
end
$$;

revoke all on function collab._hint_event_readers(text[], text[]) from public, anon, authenticated;
-- The service role may write the tables directly; their triggers then call it as the service role.
grant execute on function collab._hint_event_readers(text[], text[]) to service_role;

-- The events trigger (called only while someone listens: the trigger's WHEN clause asks):
-- per executor of the statement, its job when there is just one. The transaction's first
-- statement for one job (every claim, complete, single assign) sends its hint and sets
-- the marker inline, as collab._hint_event_readers would: a nested call there cost
-- about 10 us of server CPU per transaction, a third of the statement's insert
-- (bench/README.md, notify_per_transaction.py).
create or replace function collab._job_events_notify() returns trigger
  language plpgsql set search_path = ''
as $$
declare
  low_executor text;
  high_executor text;
  low_job text;
  high_job text;
  hinted text;
  executor_ids text[];
  job_ids text[];
begin
  -- One executor (the common case) takes one plain aggregate, as before.
  select min(n.executor_id), max(n.executor_id), min(n.job_id::text), max(n.job_id::text)
    into low_executor, high_executor, low_job, high_job
    from new_rows n;
  if low_executor is null then
    return null;
  elsif low_executor = high_executor then
    hinted := current_setting('collab.event_hints', true);
    if (hinted is null or hinted = '') and low_job = high_job then
      perform pg_notify('collab_events',
                        json_build_object('executor_id', low_executor, 'job_id', low_job)::text);
      perform set_config('collab.event_hints',
                         json_build_object(low_executor, json_build_array(low_job))::text, true);
      return null;
    end if;
    executor_ids := array[low_executor];
    job_ids := array[case when low_job = high_job then low_job end];
  else
    select array_agg(e.executor_id), array_agg(e.job_id)
      into executor_ids, job_ids
      from (select n.executor_id,
                   case when min(n.job_id::text) = max(n.job_id::text) then min(n.job_id::text) end as job_id
              from new_rows n
             group by n.executor_id
             limit 9) e;  -- more than 8 is "everything"
  end if;
  perform collab._hint_event_readers(executor_ids, job_ids);
  return null;
end
$$;

-- Claims and scheduled retries of workflow step jobs hint their run (a run's stream
-- follows the run id): the same body as 20261201052000_collab_workflow_step_cost.sql,
-- the hint now going through collab._hint_event_readers.
create or replace function collab._jobs_workflow_claimed() returns trigger
  language plpgsql set search_path = ''
as $$
begin
  if new.status = 'running' then
    perform 1 from collab.workflow_step_runs s
     where s.run_id = new.workflow_run_id and s.step_id = new.workflow_step_id
       and s.job_id = new.id and s.status = 'queued'
       for share;
    if not found then
      perform set_config('collab.workflow_jobs', 'on', true);
      perform set_config('collab.workflow_orphans', 'on', true);
    end if;
  end if;
  if collab._event_listeners_present() then
    perform collab._hint_event_readers(array[new.executor_id], array[new.workflow_run_id::text]);
  end if;
  return new;
end
$$;

-- Claim wake-ups. NOTIFY collab_jobs needs nothing: its payload is the executor id (or
-- `*`), which Postgres folds within a transaction, and a marker would cost every
-- single-job assign more than the duplicate check it saves (bench/README.md). The
-- Realtime broadcasts do not fold (each is a row of realtime.messages), so where Supabase
-- Realtime exists the body of 20261201012000_collab_claim_broadcasts.sql gains a marker:
-- `collab.claim_hints` lists the executors broadcast to so far in this transaction.
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
    if cardinality(executor_ids) > 8 then
      perform pg_notify('collab_jobs', '*');
    else
      perform pg_notify('collab_jobs', e) from unnest(executor_ids) as e;
    end if;
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
