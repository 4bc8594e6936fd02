-- collab: wake workers over Supabase Realtime when jobs become claimable. Applied only
-- where Supabase Realtime's realtime.send(payload, event, topic, private) exists.
--
-- collab._notify_claimable runs once per statement that makes jobs claimable (the
-- jobs triggers: assign, retry, fail with retry, ...). Besides NOTIFY collab_jobs (for
-- workers with a LISTEN connection) it now sends one private broadcast per executor:
-- event `jobs.claimable`, topic `queue:<executor_id>`, payload `{"executorId": ...}`.
-- realtime.send inserts into realtime.messages, which Realtime relays to the topic's
-- subscribers once the transaction commits (a rolled-back assign wakes nobody); it
-- turns its own failures into a WARNING, so a broadcast never fails the statement.
-- Who may receive it: 20261201010000_collab_realtime_policies.sql (worker and admin
-- members of the executor, and the service role). A wake-up is only a hint: the
-- worker claims through claim_jobs_v1 as always.

do $$
begin
  if to_regprocedure('realtime.send(jsonb, text, text, boolean)') is null then
    return;
  end if;

  create or replace function collab._notify_claimable(executor_ids text[]) returns void
    language plpgsql set search_path = ''
  as $f$
  begin
    if executor_ids is null or cardinality(executor_ids) = 0 then
      return;
    end if;
    if cardinality(executor_ids) > 8 then
      perform pg_notify('collab_jobs', '*');
    else
      perform pg_notify('collab_jobs', e) from unnest(executor_ids) as e;
    end if;
    perform realtime.send(jsonb_build_object('executorId', e), 'jobs.claimable', 'queue:' || e, true)
       from unnest(executor_ids) as e;
  end
  $f$;
end
$$;
