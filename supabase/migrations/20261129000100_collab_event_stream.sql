-- collab: a gapless, seq-ordered read of the event log, and wake-ups for its readers.
--
-- `seq` is handed out at insert, not at commit, so "events after seq N" read while an
-- older transaction is still open would skip that transaction's events for good once
-- the reader moved past them. job_events_after_v1 therefore only releases events up to
-- a *safe* seq: one below which every seq is settled (committed and visible, or rolled
-- back or deleted, never to appear). docs/design.md ("Live streams") has the argument.

-- Every transaction that writes an event has its transaction id before it draws a seq
-- (one statement-level call, so a 10,000-row insert pays once). The safe-seq rule below
-- relies on it: whoever holds seq <= H drew it after getting an xid, so its xid is below
-- any bound on the ids in use taken after H was read.
create function collab._job_events_take_xid() returns trigger
  language plpgsql set search_path = ''
as $$
begin
  perform pg_current_xact_id();
  return null;
end
$$;

create trigger job_events_take_xid before insert on collab.job_events
  for each statement execute function collab._job_events_take_xid();

-- Whether any session follows the log by LISTEN: listeners hold a shared session-level
-- advisory lock on this key (collab_sdk.wakeup.EVENTS_LISTENER_LOCK) from before their
-- LISTEN until they disconnect. NOTIFY serialises the commits of every notifying
-- transaction (a heavyweight lock held through the commit's WAL flush), which halved the
-- single-claim drain of 8 workers, so nothing is sent while nobody listens. A listener
-- that arrives between a writer's check and its commit catches up by its first read.
create function collab._event_listeners_present() returns boolean
  language plpgsql volatile set search_path = ''
as $$
begin
  if pg_try_advisory_lock(6176005410530163403) then
    perform pg_advisory_unlock(6176005410530163403);
    return false;
  end if;
  return true;  -- held shared by a listener (or, for an instant, by another writer's probe)
end
$$;

-- One NOTIFY collab_events per statement that wrote events, whatever its size, while
-- someone listens: the payload names the executor and the job when there is just one of
-- each (else null) and the highest seq. It is a hint: readers fetch rows by seq, so a
-- lost or early notification loses nothing.
create function collab._job_events_notify() returns trigger
  language plpgsql set search_path = ''
as $$
declare
  hint text;
begin
  if not collab._event_listeners_present() then
    return null;
  end if;
  select json_build_object(
           'executor_id', case when min(n.executor_id) = max(n.executor_id) then min(n.executor_id) end,
           'job_id', case when min(n.job_id::text) = max(n.job_id::text) then min(n.job_id::text) end,
           'seq', max(n.seq))::text
    into hint
    from new_rows n
  having count(*) > 0;
  if hint is not null then
    perform pg_notify('collab_events', hint);
  end if;
  return null;
end
$$;

create trigger job_events_notify after insert on collab.job_events
  referencing new table as new_rows
  for each statement execute function collab._job_events_notify();

-- True once every transaction with an id below `xid` has ended: a new snapshot's xmin
-- has passed it. (A reader's own transaction is never in its snapshot's running list.)
create function collab._xids_settled(xid xid8) returns boolean
  language plpgsql volatile set search_path = ''
as $$
begin
  return pg_snapshot_xmin(pg_current_snapshot()) >= xid;
end
$$;

-- One more than the highest transaction id in use now. A snapshot's xmax is only the
-- latest *completed* id plus one: a transaction that took its id after that completion
-- is running but below no snapshot bound, so the running ids are read from their
-- locks (every transaction holds an exclusive lock on its own id) and widened from
-- 32 to 64 bits next to the snapshot's xmax.
create function collab._xid_upper_bound() returns xid8
  language plpgsql volatile set search_path = ''
as $$
declare
  ref xid8 := pg_snapshot_xmax(pg_current_snapshot());
  low bigint := (ref::text::numeric % 4294967296)::bigint;
  ahead bigint;
begin
  select max((l.transactionid::text::bigint - low + 6442450944) % 4294967296 - 2147483648)
    into ahead
    from pg_catalog.pg_locks l
   where l.locktype = 'transactionid' and l.mode = 'ExclusiveLock' and l.granted;
  if ahead is null or ahead < 0 then
    return ref;
  end if;
  return (ref::text::numeric + ahead + 1)::text::xid8;
end
$$;

-- The safe seq after `after_seq`, for any reader (SECURITY DEFINER: it looks at every
-- executor's seqs, and answers only numbers). Three ways to move it forward:
--   (a) a horizon (seq H, xid X) from the caller's previous call, once every
--       transaction below X has ended: all seqs <= H are then settled;
--   (b) the unbroken run of visible seqs after it: no gap, nothing pending;
--   (c) a fresh horizon (the last seq handed out, and a bound on the ids of the
--       transactions that may hold one) when it is settled at once.
-- An unsettled fresh horizon is handed back for the next call, so a rolled-back seq
-- (a permanent gap) delays readers by one call, never forever.
create function collab._event_horizon(
  after_seq bigint, horizon_seq bigint, horizon_xid xid8,
  out safe_seq bigint, out next_horizon_seq bigint, out next_horizon_xid xid8)
  language plpgsql volatile security definer set search_path = ''
as $$
declare
  last_drawn bigint;
  bound xid8;
begin
  if current_setting('transaction_isolation') <> 'read committed' then
    perform collab._raise('CL400', 'the event stream needs read committed isolation (each '
                          || 'statement must see transactions that committed before it)');
  end if;
  safe_seq := coalesce(after_seq, 0);
  if horizon_seq is not null and horizon_xid is not null and collab._xids_settled(horizon_xid) then
    safe_seq := greatest(safe_seq, horizon_seq);
    horizon_seq := null;
  end if;
  select case when s.is_called then s.last_value else s.last_value - 1 end
    into last_drawn from collab.job_events_seq_seq s;
  select coalesce(max(r.seq), safe_seq) into safe_seq
    from (select e.seq, e.seq - row_number() over (order by e.seq) as base
            from (select j.seq from collab.job_events j
                   where j.seq > safe_seq order by j.seq limit 10000) e) r
   where r.base = safe_seq;
  if safe_seq >= last_drawn then
    return;  -- every seq drawn so far is visible: nothing pending
  end if;
  bound := collab._xid_upper_bound();  -- read after last_drawn: covers whoever holds one
  if collab._xids_settled(bound) then
    safe_seq := last_drawn;
  elsif horizon_seq is not null and horizon_seq > safe_seq then
    next_horizon_seq := horizon_seq;  -- the older horizon settles first
    next_horizon_xid := horizon_xid;
  else
    next_horizon_seq := last_drawn;
    next_horizon_xid := bound;
  end if;
end
$$;

-- Events after `after_seq`, oldest first, up to the safe seq: a reader that passes back
-- the returned `cursor` (and `horizon`) sees every committed event once, in seq order,
-- whatever commits concurrently. Filtered by job and/or executor; row-level security
-- decides what the caller sees (a job it cannot see is CL404).
--   { "events": [...], "cursor": <seq to pass back as after_seq>,
--     "horizon": {"seq": .., "xid": ".."} | null, "more": <a full page was returned> }
create function collab.job_events_after_v1(
  after_seq bigint default 0, job_id uuid default null, executor_id text default null,
  page_size integer default 1000, horizon_seq bigint default null, horizon_xid text default null)
  returns jsonb
  language plpgsql volatile set search_path = ''
as $$
declare
  h record;
  page jsonb;
  n integer;
  last_seq bigint;
begin
  perform collab._check_range('page_size', page_size, 1, 10000);
  if coalesce(after_seq, 0) < 0 then
    perform collab._raise('CL400', format('after_seq must be >= 0 (got %s)', after_seq));
  end if;
  if job_id is not null then
    perform collab._require_visible_job(job_id);
  end if;
  begin
    h := collab._event_horizon(after_seq, horizon_seq, horizon_xid::xid8);
  exception when invalid_text_representation then
    perform collab._raise('CL400', format('invalid horizon_xid %s', quote_literal(left(horizon_xid, 40))));
  end;
  select coalesce(jsonb_agg(to_jsonb(e) - 'xact_id' order by e.seq), '[]'::jsonb), count(*), max(e.seq)
    into page, n, last_seq
    from (select * from collab.job_events x
           where x.seq > coalesce(job_events_after_v1.after_seq, 0) and x.seq <= h.safe_seq
             and (job_events_after_v1.job_id is null or x.job_id = job_events_after_v1.job_id)
             and (job_events_after_v1.executor_id is null
                  or x.executor_id = job_events_after_v1.executor_id)
           order by x.seq
           limit page_size) e;
  return jsonb_build_object(
    'events', page,
    'cursor', case when n = page_size then last_seq else h.safe_seq end,
    'horizon', case when h.next_horizon_seq is null then null
                    else jsonb_build_object('seq', h.next_horizon_seq,
                                            'xid', h.next_horizon_xid::text) end,
    'more', n = page_size);
end
$$;

-- Where to start following the log "from now": a seq below every event that may still
-- commit (events at or below it are settled), found from the last 10,000 seqs drawn.
-- SECURITY DEFINER: it reads the sequence; it answers one number.
create function collab.job_events_head_v1() returns bigint
  language plpgsql volatile security definer set search_path = ''
as $$
declare
  last_drawn bigint;
begin
  select case when s.is_called then s.last_value else s.last_value - 1 end
    into last_drawn from collab.job_events_seq_seq s;
  return (collab._event_horizon(greatest(last_drawn - 10000, 0), null, null)).safe_seq;
end
$$;

revoke all on function collab._job_events_take_xid(), collab._job_events_notify(),
  collab._event_listeners_present(),
  collab._xids_settled(xid8), collab._xid_upper_bound(), collab._event_horizon(bigint, bigint, xid8),
  collab.job_events_after_v1(bigint, uuid, text, integer, bigint, text),
  collab.job_events_head_v1() from public;
grant execute on function
  collab.job_events_after_v1(bigint, uuid, text, integer, bigint, text),
  collab.job_events_head_v1(),
  -- called by the SECURITY INVOKER reader above, as the caller
  collab._event_horizon(bigint, bigint, xid8)
to authenticated, service_role;

-- Schema 2: version 1 plus the event stream (an SDK that watches needs it).
create or replace function collab.schema_version() returns integer
  language sql immutable set search_path = ''
as $$ select 2 $$;
