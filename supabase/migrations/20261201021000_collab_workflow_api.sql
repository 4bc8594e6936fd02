-- collab: what the workflow HTTP API (issue 14) needs of the engine.
--
-- 1. Idempotent creation. A run has its key (start_run_v1); a workflow, a duplicate
--    and a schedule had none. collab.idempotency_keys remembers, per executor and scope,
--    which resource a key made and a hash of the request that made it:
--    create_workflow_v2, duplicate_workflow_v2 and create_schedule_v2 take an
--    `idempotency_key` and answer `{workflow|schedule, created}`. The same key with the
--    same request answers the resource it made (`created: false`), also under concurrent
--    calls (the second insert of a key waits for the first transaction, then reads its
--    row); the same key with another request is CL409. A key whose resource has since
--    been deleted makes a new one. Each v2 checks the caller as its v1 does before it
--    touches a key (a stranger learns nothing about keys), then calls the v1.
-- 2. runs_v2: runs_v1 with a date range (`since` <= created_at < `until`).

create table collab.idempotency_keys (
  executor_id  text        not null,
  scope        text        not null check (scope in ('workflow', 'schedule')),
  key          text        not null check (char_length(key) between 1 and 255),
  request_hash text        not null,
  resource_id  uuid,
  created_at   timestamptz not null default now(),
  primary key (executor_id, scope, key)
);
comment on table collab.idempotency_keys is
  'Idempotency keys of workflow and schedule creation: the resource each key made and its request hash';
alter table collab.idempotency_keys enable row level security;
-- Only the SECURITY DEFINER creators read and write it; service_role may look (it
-- bypasses RLS anyway); users and anon get nothing.
create policy idempotency_keys_service on collab.idempotency_keys
  for all to service_role using (true) with check (true);
revoke all on table collab.idempotency_keys from public, anon, authenticated;
grant all on table collab.idempotency_keys to service_role;

-- The resource a key made (null: none yet; the caller makes it and records it with
-- _remember_idempotency_key). CL409 when the key was used for another request.
create function collab._claim_idempotency_key(executor_id text, scope text, key text, request_hash text)
  returns uuid
  language plpgsql set search_path = ''
as $$
declare
  k collab.idempotency_keys;
begin
  if key is null or char_length(key) not between 1 and 255 then
    perform collab._raise('CL400', 'idempotency_key must be 1-255 characters');
  end if;
  insert into collab.idempotency_keys (executor_id, scope, key, request_hash)
  values (_claim_idempotency_key.executor_id, _claim_idempotency_key.scope, _claim_idempotency_key.key,
          _claim_idempotency_key.request_hash)
  on conflict do nothing;
  if found then
    return null;
  end if;
  -- Another transaction made the key (the insert waited for it to commit).
  select * into k from collab.idempotency_keys i
   where i.executor_id = _claim_idempotency_key.executor_id and i.scope = _claim_idempotency_key.scope
     and i.key = _claim_idempotency_key.key
     for update;
  if k.request_hash <> _claim_idempotency_key.request_hash then
    perform collab._raise('CL409', format('idempotency key %s was used for another request', quote_literal(key)));
  end if;
  return k.resource_id;
end
$$;

create function collab._remember_idempotency_key(executor_id text, scope text, key text, resource_id uuid)
  returns void
  language sql set search_path = ''
as $$
  update collab.idempotency_keys i
     set resource_id = _remember_idempotency_key.resource_id
   where i.executor_id = _remember_idempotency_key.executor_id and i.scope = _remember_idempotency_key.scope
     and i.key = _remember_idempotency_key.key;
$$;

-- create_workflow_v1 with an idempotency key: {workflow, created}.
create function collab.create_workflow_v2(
  executor_id text, name text, description text default '',
  definition jsonb default '{"nodes": [], "edges": []}'::jsonb, input_schema jsonb default null,
  idempotency_key text default null)
  returns jsonb
  language plpgsql security definer set search_path = ''
as $$
declare
  made uuid;
  w collab.workflows;
begin
  perform collab._check_name('executor_id', executor_id);
  perform collab._require_member(executor_id, '{client,admin}');
  if idempotency_key is not null then
    made := collab._claim_idempotency_key(executor_id, 'workflow', idempotency_key, md5(jsonb_build_object(
      'op', 'create', 'name', name, 'description', coalesce(description, ''),
      'definition', coalesce(definition, '{"nodes": [], "edges": []}'::jsonb),
      'input_schema', input_schema)::text));
    select * into w from collab.workflows x where x.id = made;
    if found then
      return jsonb_build_object('workflow', to_jsonb(w), 'created', false);
    end if;
  end if;
  select * into strict w from collab.create_workflow_v1(executor_id, name, description, definition, input_schema);
  if idempotency_key is not null then
    perform collab._remember_idempotency_key(executor_id, 'workflow', idempotency_key, w.id);
  end if;
  return jsonb_build_object('workflow', to_jsonb(w), 'created', true);
end
$$;

-- duplicate_workflow_v1 with an idempotency key: {workflow, created}.
create function collab.duplicate_workflow_v2(workflow_id uuid, name text default null,
                                             idempotency_key text default null)
  returns jsonb
  language plpgsql security definer set search_path = ''
as $$
declare
  made uuid;
  source collab.workflows;
  w collab.workflows;
begin
  source := collab._lock_workflow(workflow_id, '{client,admin}');
  if idempotency_key is not null then
    made := collab._claim_idempotency_key(source.executor_id, 'workflow', idempotency_key, md5(jsonb_build_object(
      'op', 'duplicate', 'workflow_id', source.id, 'name', name)::text));
    select * into w from collab.workflows x where x.id = made;
    if found then
      return jsonb_build_object('workflow', to_jsonb(w), 'created', false);
    end if;
  end if;
  select * into strict w from collab.duplicate_workflow_v1(workflow_id, name);
  if idempotency_key is not null then
    perform collab._remember_idempotency_key(source.executor_id, 'workflow', idempotency_key, w.id);
  end if;
  return jsonb_build_object('workflow', to_jsonb(w), 'created', true);
end
$$;

-- create_schedule_v1 with an idempotency key: {schedule, created}.
create function collab.create_schedule_v2(
  workflow_id uuid, cron text, timezone text default 'UTC', input jsonb default '{}'::jsonb,
  enabled boolean default true, idempotency_key text default null)
  returns jsonb
  language plpgsql security definer set search_path = ''
as $$
declare
  made uuid;
  w collab.workflows;
  s collab.workflow_schedules;
begin
  w := collab._lock_workflow(workflow_id, '{client,admin}');
  if idempotency_key is not null then
    made := collab._claim_idempotency_key(w.executor_id, 'schedule', idempotency_key, md5(jsonb_build_object(
      'workflow_id', w.id, 'cron', cron, 'timezone', coalesce(timezone, 'UTC'),
      'input', coalesce(input, '{}'::jsonb), 'enabled', coalesce(enabled, true))::text));
    select * into s from collab.workflow_schedules x where x.id = made;
    if found then
      return jsonb_build_object('schedule', to_jsonb(s), 'created', false);
    end if;
  end if;
  select * into strict s from collab.create_schedule_v1(workflow_id, cron, timezone, input, enabled);
  if idempotency_key is not null then
    perform collab._remember_idempotency_key(w.executor_id, 'schedule', idempotency_key, s.id);
  end if;
  return jsonb_build_object('schedule', to_jsonb(s), 'created', true);
end
$$;

-- runs_v1 with a date range on created_at: since <= created_at < until (either null: open).
create function collab.runs_v2(
  workflow_id uuid default null, executor_id text default null, status text default null,
  since timestamptz default null, until timestamptz default null,
  page_size integer default 20, cursor text default null)
  returns jsonb
  language plpgsql stable set search_path = '' set plan_cache_mode = force_custom_plan
as $$
declare
  c record;
  rows jsonb;
  n integer;
begin
  perform collab_private._check_range('page_size', page_size, 1, 1000);
  if status is not null and status not in ('pending', 'running', 'paused', 'succeeded', 'failed', 'cancelled') then
    perform collab_private._raise('CL400', 'status must be pending, running, paused, succeeded, failed or cancelled');
  end if;
  if since is not null and until is not null and until < since then
    perform collab_private._raise('CL400', 'until must not be before since');
  end if;
  c := collab_private._cursor_decode(cursor);
  select coalesce(jsonb_agg(to_jsonb(p) order by p.created_at desc, p.id desc), '[]'::jsonb), count(*)
    into rows, n
    from (select * from collab.workflow_runs r
           where (runs_v2.workflow_id is null or r.workflow_id = runs_v2.workflow_id)
             and (runs_v2.executor_id is null or r.executor_id = runs_v2.executor_id)
             and (runs_v2.status is null or r.status = runs_v2.status)
             and (runs_v2.since is null or r.created_at >= runs_v2.since)
             and (runs_v2.until is null or r.created_at < runs_v2.until)
             and (c.ts is null
                  or (c.id is null and r.created_at < c.ts)
                  or (c.id is not null and (r.created_at, r.id) < (c.ts, c.id)))
           order by r.created_at desc, r.id desc
           limit page_size + 1) p;
  return collab_private._page(rows, n, page_size);
end
$$;

revoke all on function
  collab._claim_idempotency_key(text, text, text, text),
  collab._remember_idempotency_key(text, text, text, uuid),
  collab.create_workflow_v2(text, text, text, jsonb, jsonb, text),
  collab.duplicate_workflow_v2(uuid, text, text),
  collab.create_schedule_v2(uuid, text, text, jsonb, boolean, text),
  collab.runs_v2(uuid, text, text, timestamptz, timestamptz, integer, text)
from public;
grant execute on function
  collab.create_workflow_v2(text, text, text, jsonb, jsonb, text),
  collab.duplicate_workflow_v2(uuid, text, text),
  collab.create_schedule_v2(uuid, text, text, jsonb, boolean, text),
  collab.runs_v2(uuid, text, text, timestamptz, timestamptz, integer, text)
to authenticated, service_role;
