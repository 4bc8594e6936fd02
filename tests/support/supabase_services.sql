-- Test only: the parts of Supabase Realtime's and Storage's schemas that collab's
-- policies and broadcasts touch, shaped like Supabase's own (same tables, columns,
-- grants, RLS and helper functions), for databases of the tests that need them
-- (support.supabase). Never shipped: on Supabase these schemas belong to the services.
-- Roles (anon, authenticated, service_role with BYPASSRLS) come from supabase_compat.sql.

-- Realtime: realtime.messages (Supabase partitions it by inserted_at; one table is
-- enough here), realtime.topic() and realtime.send().
create schema realtime;
grant usage on schema realtime to anon, authenticated, service_role;

create table realtime.messages (
  topic       text      not null,
  extension   text      not null,
  payload     jsonb,
  event       text,
  private     boolean   default false,
  updated_at  timestamp without time zone not null default now(),
  inserted_at timestamp without time zone not null default now(),
  id          uuid      not null default gen_random_uuid(),
  primary key (id, inserted_at)
);
alter table realtime.messages enable row level security;
grant select, insert, update on realtime.messages to anon, authenticated, service_role;

-- The channel topic Realtime is checking, from the transaction's `realtime.topic`.
create function realtime.topic() returns text
  language sql stable
as $$ select nullif(current_setting('realtime.topic', true), '') $$;

-- A broadcast from the database: a row of realtime.messages (Realtime relays it after
-- commit); errors become a WARNING, as Supabase's does.
create function realtime.send(payload jsonb, event text, topic text, private boolean default true)
  returns void
  language plpgsql
as $$
declare
  message_id uuid := gen_random_uuid();
begin
  begin
    perform set_config('realtime.topic', topic, true);
    insert into realtime.messages (id, payload, event, topic, private, extension)
    values (message_id,
            case when payload ? 'id' then payload else payload || jsonb_build_object('id', message_id) end,
            event, topic, private, 'broadcast');
  exception when others then
    raise warning 'ErrorSendingBroadcastMessage: %', sqlerrm;
  end;
end
$$;

-- The stand-in's stand-in for Realtime's replication of realtime.messages: a committed
-- broadcast row is announced on `realtime_standin` (its id), and the Realtime stand-in
-- relays it to the topic's channels. Realtime's own authorization probes roll back, so
-- they announce nothing.
create function realtime.standin_announce() returns trigger
  language plpgsql
as $$
begin
  if new.extension = 'broadcast' then
    perform pg_notify('realtime_standin', new.id::text);
  end if;
  return null;
end
$$;
create trigger standin_announce after insert on realtime.messages
  for each row execute function realtime.standin_announce();

-- Storage: buckets, objects and storage.foldername().
create schema storage;
grant usage on schema storage to anon, authenticated, service_role;

create table storage.buckets (
  id         text primary key,
  name       text not null unique,
  owner      uuid,
  public     boolean default false,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);

create table storage.objects (
  id               uuid primary key default gen_random_uuid(),
  bucket_id        text references storage.buckets (id),
  name             text,
  owner            uuid,
  owner_id         text,
  metadata         jsonb,
  user_metadata    jsonb,
  version          text,
  path_tokens      text[] generated always as (string_to_array(name, '/')) stored,
  created_at       timestamptz default now(),
  updated_at       timestamptz default now(),
  last_accessed_at timestamptz default now(),
  unique (bucket_id, name)
);
alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;
grant all on storage.buckets, storage.objects to anon, authenticated, service_role;

-- The folders of an object name: every segment but the last.
create function storage.foldername(name text) returns text[]
  language plpgsql immutable
as $$
declare
  parts text[] := string_to_array(name, '/');
begin
  return parts[1:array_length(parts, 1) - 1];
end
$$;
