-- collab: tables, indexes, privileges and row-level security.
-- The queue's state lives here; every state change goes through the RPCs of the
-- later migrations (SECURITY DEFINER functions that check the caller themselves).

create schema if not exists collab;
comment on schema collab is 'collab job queue: tables and RPCs (see docs/rpc.md)';

-- Who may act on which executor. An `authenticated` user acts only on the executors
-- it is a member of; `service_role` and direct database connections act on all.
create table collab.executor_members (
  executor_id text        not null,
  user_id     uuid        not null,
  role        text        not null default 'client'
              check (role in ('client', 'worker', 'admin')),
  created_at  timestamptz not null default now(),
  primary key (executor_id, user_id)
);
create index executor_members_user_idx on collab.executor_members (user_id, executor_id);

create table collab.jobs (
  id              uuid        primary key default gen_random_uuid(),
  type            text        not null check (char_length(type) between 1 and 200),
  executor_id     text        not null check (char_length(executor_id) between 1 and 200),
  status          text        not null default 'queued'
                  check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  payload         jsonb       not null default '{}'::jsonb,
  result          jsonb,
  last_error      text,
  priority        integer     not null default 0,
  attempts        integer     not null default 0 check (attempts >= 0),
  max_attempts    integer     not null default 3 check (max_attempts between 1 and 1000),
  idempotency_key text        check (char_length(idempotency_key) between 1 and 255),
  -- The worker that holds (or last held) the job. Kept after the job is released so a
  -- repeated complete/fail from that worker can be recognised and answered unchanged.
  lease_owner     text,
  -- When the job can next be claimed: its run_at or backoff while queued, and its
  -- lease expiry while running (an expired lease makes the job claimable again).
  -- One column for both keeps the claim a single ordered index scan.
  next_run_at     timestamptz not null default now(),
  lease_until     timestamptz generated always as
                  (case when status = 'running' then next_run_at end) stored,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  started_at      timestamptz,
  finished_at     timestamptz,
  constraint jobs_running_has_owner check (status <> 'running' or lease_owner is not null)
);
comment on table collab.jobs is 'One row per job; status queued|running|succeeded|failed|cancelled';

-- The claim: due jobs of one executor, highest priority first, then oldest.
create index jobs_claim_idx on collab.jobs (executor_id, priority desc, next_run_at, id)
  where status in ('queued', 'running');
-- Expired leases of jobs at max_attempts, which the claim dead-letters first.
create index jobs_running_idx on collab.jobs (executor_id, next_run_at) where status = 'running';
-- Idempotency: one job per (executor, key).
create unique index jobs_idempotency_idx on collab.jobs (executor_id, idempotency_key)
  where idempotency_key is not null;
-- Listings, newest first, per executor and overall.
create index jobs_executor_created_idx on collab.jobs (executor_id, created_at desc, id desc);
create index jobs_created_idx on collab.jobs (created_at desc, id desc);
-- Purge and metrics: finished jobs by finish time.
create index jobs_finished_idx on collab.jobs (finished_at) where finished_at is not null;

-- The committed event log. Written only by triggers and by append_job_event_v1; never
-- updated. `seq` orders events; `xact_id` lets a reader tell which events are surely
-- committed (a later seq can commit before an earlier one). No foreign key to jobs:
-- every transition writes an event, and a per-row referential check would cost more
-- than the insert itself; delete_job_v1 and purge_jobs_v1 delete a job's events.
create table collab.job_events (
  seq         bigint      generated always as identity primary key,
  job_id      uuid        not null,
  executor_id text        not null,
  event_type  text        not null,
  payload     jsonb       not null default '{}'::jsonb,
  created_at  timestamptz not null default now(),
  xact_id     xid8        not null default pg_current_xact_id()
);
create index job_events_job_idx on collab.job_events (job_id, seq);
create index job_events_executor_idx on collab.job_events (executor_id, seq);

create table collab.artifacts (
  id          uuid        primary key default gen_random_uuid(),
  job_id      uuid        not null references collab.jobs (id) on delete cascade,
  executor_id text        not null,
  bucket      text        not null default 'artifacts',
  path        text        not null check (char_length(path) between 1 and 1024),
  name        text        not null check (char_length(name) between 1 and 255),
  size        bigint      check (size >= 0),
  mime        text,
  sha256      text        check (sha256 ~ '^[0-9a-f]{64}$'),
  url         text,
  created_at  timestamptz not null default now(),
  unique (bucket, path)
);
create index artifacts_job_idx on collab.artifacts (job_id, created_at);

create table collab.job_dead_letters (
  id             uuid        primary key default gen_random_uuid(),
  job_id         uuid        references collab.jobs (id) on delete set null,
  type           text        not null,
  executor_id    text        not null,
  payload        jsonb       not null,
  priority       integer     not null default 0,
  max_attempts   integer     not null,
  last_error     text,
  attempts       integer     not null,
  reason         text        not null check (reason in ('max_attempts', 'non_retryable', 'lease_expired')),
  created_at     timestamptz not null default now(),
  retried_at     timestamptz,
  retried_job_id uuid        references collab.jobs (id) on delete set null
);
create index job_dead_letters_created_idx on collab.job_dead_letters (created_at desc, id desc);
create index job_dead_letters_executor_idx on collab.job_dead_letters (executor_id, created_at desc, id desc);
create index job_dead_letters_job_idx on collab.job_dead_letters (job_id);

-- The presence mirror: one row per worker process, upserted by heartbeats.
create table collab.worker_heartbeats_v2 (
  worker_id    text        primary key check (char_length(worker_id) between 1 and 200),
  executor_id  text        not null,
  status       text        not null default 'idle',
  version      text,
  capacity     integer     not null default 1 check (capacity >= 0),
  running      integer     not null default 0 check (running >= 0),
  metadata     jsonb       not null default '{}'::jsonb,
  started_at   timestamptz not null default now(),
  last_seen_at timestamptz not null default now()
);
create index worker_heartbeats_seen_idx on collab.worker_heartbeats_v2 (last_seen_at desc);
create index worker_heartbeats_executor_idx on collab.worker_heartbeats_v2 (executor_id, last_seen_at desc);

-- Privileges: reads are governed by RLS; no role but the owner writes tables directly.
grant usage on schema collab to anon, authenticated, service_role;
grant select on all tables in schema collab to authenticated;
grant all on all tables in schema collab to service_role;
alter default privileges in schema collab revoke execute on functions from public;

-- Row-level security: on for every table; nothing for anon; members see their executors.
alter table collab.executor_members enable row level security;
alter table collab.jobs enable row level security;
alter table collab.job_events enable row level security;
alter table collab.artifacts enable row level security;
alter table collab.job_dead_letters enable row level security;
alter table collab.worker_heartbeats_v2 enable row level security;

create policy members_read_own on collab.executor_members
  for select to authenticated
  using (user_id = (select auth.uid()));

create policy jobs_read_member on collab.jobs
  for select to authenticated
  using (executor_id in (select m.executor_id from collab.executor_members m
                         where m.user_id = (select auth.uid())));

create policy job_events_read_member on collab.job_events
  for select to authenticated
  using (executor_id in (select m.executor_id from collab.executor_members m
                         where m.user_id = (select auth.uid())));

create policy artifacts_read_member on collab.artifacts
  for select to authenticated
  using (executor_id in (select m.executor_id from collab.executor_members m
                         where m.user_id = (select auth.uid())));

create policy dead_letters_read_member on collab.job_dead_letters
  for select to authenticated
  using (executor_id in (select m.executor_id from collab.executor_members m
                         where m.user_id = (select auth.uid())));

create policy heartbeats_read_member on collab.worker_heartbeats_v2
  for select to authenticated
  using (executor_id in (select m.executor_id from collab.executor_members m
                         where m.user_id = (select auth.uid())));

-- Realtime streams committed events (RLS decides what each subscriber receives).
do $$
begin
  if exists (select 1 from pg_publication where pubname = 'supabase_realtime')
     and not exists (select 1 from pg_publication_tables
                     where pubname = 'supabase_realtime'
                       and schemaname = 'collab' and tablename = 'job_events') then
    alter publication supabase_realtime add table collab.job_events;
  end if;
end
$$;

-- Artifacts bucket, where Supabase Storage is installed.
do $$
begin
  if to_regclass('storage.buckets') is not null then
    insert into storage.buckets (id, name, public) values ('artifacts', 'artifacts', false)
    on conflict (id) do nothing;
  end if;
end
$$;
