-- collab: per-caller rate limiting for the HTTP layer, kept in Postgres so that every
-- serverless instance and every `collab serve` process counts against the same budget.
--
-- A fixed window per key: the window is [floor(now / window_seconds) * window_seconds,
-- + window_seconds). Each hit increments the key's counter in one upsert (row-locked,
-- so concurrent hits from many instances are counted exactly). Only trusted callers
-- (service_role, direct connections) may count hits: the HTTP layer calls it with its
-- own trusted client, keyed by the authenticated caller.

create table collab.rate_limits (
  bucket_key   text primary key,
  window_start timestamptz not null,
  hits         integer not null
);

alter table collab.rate_limits enable row level security;
-- Only service_role reads it (it bypasses RLS anyway); users and anon get nothing.
create policy rate_limits_service on collab.rate_limits
  for all to service_role using (true) with check (true);
grant all on collab.rate_limits to service_role;

-- Count one hit for `key`; `allowed` is false once more than `limit` hits fell in the
-- current window, and `retry_after` is then the whole seconds until the window ends.
create function collab.rate_limit_hit_v1(key text, "limit" integer, window_seconds integer)
  returns table (allowed boolean, hits integer, remaining integer, retry_after integer)
  language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_now timestamptz := clock_timestamp();
  v_start timestamptz;
  v_hits integer;
begin
  if not collab._caller_is_trusted() then
    perform collab._raise('CL403', 'not allowed: rate limits are counted by trusted callers only');
  end if;
  if key is null or length(key) not between 1 and 200 then
    perform collab._raise('CL400', 'key must be 1-200 characters');
  end if;
  perform collab._check_range('limit', "limit", 1, 1000000000);
  perform collab._check_range('window_seconds', window_seconds, 1, 86400);

  v_start := to_timestamp(floor(extract(epoch from v_now) / window_seconds) * window_seconds);
  insert into collab.rate_limits as r (bucket_key, window_start, hits)
  values (rate_limit_hit_v1.key, v_start, 1)
  on conflict (bucket_key) do update
    set hits = case when r.window_start = excluded.window_start then r.hits + 1 else 1 end,
        window_start = excluded.window_start
  returning r.hits into v_hits;

  allowed := v_hits <= "limit";
  hits := v_hits;
  remaining := greatest("limit" - v_hits, 0);
  retry_after := case when allowed then 0
                      else greatest(1, ceil(extract(epoch from
                             v_start + make_interval(secs => window_seconds) - v_now))::integer)
                 end;
  return next;
end
$$;

-- Forget windows that ended more than a day ago (the HTTP layer calls it now and then).
create function collab.rate_limit_prune_v1() returns integer
  language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_deleted integer;
begin
  if not collab._caller_is_trusted() then
    perform collab._raise('CL403', 'not allowed: rate limits are pruned by trusted callers only');
  end if;
  delete from collab.rate_limits where window_start < now() - interval '1 day';
  get diagnostics v_deleted = row_count;
  return v_deleted;
end
$$;

revoke all on function collab.rate_limit_hit_v1(text, integer, integer) from public;
revoke all on function collab.rate_limit_prune_v1() from public;
-- authenticated may execute (every public RPC is callable by the API roles) but the
-- functions refuse any caller that is not trusted.
grant execute on function collab.rate_limit_hit_v1(text, integer, integer),
                          collab.rate_limit_prune_v1()
  to authenticated, service_role;
