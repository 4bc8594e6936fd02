-- collab workflows (issue 13): tables, indexes, row-level security and table privileges.
--
-- A workflow is a graph of steps; a run of it advances in SQL. A `job` step is a collab
-- job (jobs.workflow_run_id / workflow_step_id link it back to its run and step); an
-- `approval` step has no job and waits for resume_run_v1. Every run and step transition
-- is a row of collab.job_events with run_id set. docs/workflows.md describes the model.

-- The step catalog: the step types a workflow may use. Workers upsert the types they
-- handle (register_step_types_v1); built-ins (executor_id '*') come with the migrations.
create table collab.step_types (
  executor_id   text        not null check (executor_id = '*' or char_length(executor_id) between 1 and 200),
  name          text        not null check (char_length(name) between 1 and 200),
  title         text        not null check (char_length(title) between 1 and 200),
  description   text        not null default '' check (char_length(description) <= 10000),
  category      text        not null default 'general' check (char_length(category) between 1 and 100),
  kind          text        not null default 'job' check (kind in ('job', 'approval')),
  config_schema jsonb,
  input_schema  jsonb,
  output_schema jsonb,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  primary key (executor_id, name)
);
comment on table collab.step_types is 'Step catalog: per executor, and built-ins under executor_id *';

create table collab.workflows (
  id           uuid        primary key default gen_random_uuid(),
  executor_id  text        not null check (char_length(executor_id) between 1 and 200),
  name         text        not null check (char_length(name) between 1 and 200),
  description  text        not null default '' check (char_length(description) <= 10000),
  version      integer     not null default 1 check (version >= 1),
  status       text        not null default 'draft' check (status in ('draft', 'published', 'archived')),
  definition   jsonb       not null default '{"nodes": [], "edges": []}'::jsonb,
  input_schema jsonb,
  -- The workflow this one was duplicated from (duplicate_workflow_v1), if any.
  parent_id    uuid        references collab.workflows (id) on delete set null,
  published_at timestamptz,
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now()
);
comment on table collab.workflows is 'Workflow definitions; status draft|published|archived; published definitions are frozen';
create index workflows_executor_created_idx on collab.workflows (executor_id, created_at desc, id desc);
create index workflows_created_idx on collab.workflows (created_at desc, id desc);
create index workflows_parent_idx on collab.workflows (parent_id) where parent_id is not null;

create table collab.workflow_runs (
  id               uuid        primary key default gen_random_uuid(),
  workflow_id      uuid        not null references collab.workflows (id),
  workflow_version integer     not null,
  executor_id      text        not null,
  status           text        not null default 'pending'
                   check (status in ('pending', 'running', 'paused', 'succeeded', 'failed', 'cancelled')),
  trigger_type     text        not null default 'manual' check (trigger_type in ('manual', 'webhook', 'schedule')),
  input            jsonb       not null default '{}'::jsonb,
  -- The outputs of the run's succeeded steps, by step id.
  context          jsonb       not null default '{}'::jsonb,
  error            text,
  idempotency_key  text        check (char_length(idempotency_key) between 1 and 255),
  schedule_id      uuid,
  created_at       timestamptz not null default now(),
  started_at       timestamptz,
  completed_at     timestamptz,
  updated_at       timestamptz not null default now()
);
comment on table collab.workflow_runs is 'Workflow runs; status pending|running|paused|succeeded|failed|cancelled';
create unique index workflow_runs_idempotency_idx on collab.workflow_runs (workflow_id, idempotency_key)
  where idempotency_key is not null;
create index workflow_runs_workflow_created_idx on collab.workflow_runs (workflow_id, created_at desc, id desc);
create index workflow_runs_executor_created_idx on collab.workflow_runs (executor_id, created_at desc, id desc);
create index workflow_runs_created_idx on collab.workflow_runs (created_at desc, id desc);

create table collab.workflow_step_runs (
  run_id       uuid        not null references collab.workflow_runs (id) on delete cascade,
  step_id      text        not null,
  executor_id  text        not null,
  type         text        not null,
  kind         text        not null check (kind in ('job', 'approval')),
  -- The node's index in the definition (the order a run's steps are listed in).
  position     integer     not null default 0,
  status       text        not null default 'pending'
               check (status in ('pending', 'queued', 'running', 'waiting', 'succeeded', 'failed',
                                 'skipped', 'cancelled')),
  -- The steps whose outputs this step needs (its incoming edges), fixed at the run's start.
  predecessors text[]      not null default '{}',
  config       jsonb       not null default '{}'::jsonb,
  max_attempts integer     not null default 3 check (max_attempts between 1 and 1000),
  -- Claims of this step's jobs, over all its jobs (a retried run's new job adds to it).
  attempts     integer     not null default 0 check (attempts >= 0),
  input        jsonb,
  output       jsonb,
  error        text,
  job_id       uuid,
  created_at   timestamptz not null default now(),
  queued_at    timestamptz,
  started_at   timestamptz,
  completed_at timestamptz,
  updated_at   timestamptz not null default now(),
  primary key (run_id, step_id)
);
comment on table collab.workflow_step_runs is 'One row per step of a run; status pending|queued|running|waiting|succeeded|failed|skipped|cancelled';
create index workflow_step_runs_job_idx on collab.workflow_step_runs (job_id) where job_id is not null;

create table collab.workflow_schedules (
  id            uuid        primary key default gen_random_uuid(),
  workflow_id   uuid        not null references collab.workflows (id) on delete cascade,
  executor_id   text        not null,
  cron          text        not null check (char_length(cron) between 1 and 200),
  timezone      text        not null default 'UTC' check (char_length(timezone) between 1 and 100),
  input         jsonb       not null default '{}'::jsonb,
  enabled       boolean     not null default true,
  -- The next tick to fire (UTC). A due schedule fires once for this tick, whatever the
  -- number of ticks missed since, and moves on to the first tick after now.
  next_fire_at  timestamptz not null,
  last_fired_at timestamptz,
  last_run_id   uuid,
  last_error    text,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);
comment on table collab.workflow_schedules is 'Cron triggers of workflows; fired by fire_due_schedules_v1';
create index workflow_schedules_due_idx on collab.workflow_schedules (next_fire_at) where enabled;
create index workflow_schedules_workflow_idx on collab.workflow_schedules (workflow_id);
create index workflow_schedules_executor_idx on collab.workflow_schedules (executor_id);

-- Webhook secrets. HMAC verification needs the secret itself (a hash of it cannot verify
-- a signature), so it is kept here, where nobody but the owner of the schema reads it:
-- no role has a privilege on the table, and only SECURITY DEFINER functions touch it.
-- The secret is shown once, by create_webhook_secret_v1.
create table collab.workflow_webhook_secrets (
  workflow_id uuid        primary key references collab.workflows (id) on delete cascade,
  executor_id text        not null,
  secret      text        not null,
  fingerprint text        not null,
  created_at  timestamptz not null default now()
);
comment on table collab.workflow_webhook_secrets is 'Per-workflow webhook secrets; readable by SECURITY DEFINER functions only';

-- Links from jobs and events to runs. Columns rather than a link table: the jobs triggers
-- tell a workflow job from a plain one by looking at the row itself (a WHEN clause on
-- workflow_run_id), so plain jobs never pay a lookup.
alter table collab.jobs add column workflow_run_id uuid, add column workflow_step_id text;
create index jobs_workflow_run_idx on collab.jobs (workflow_run_id) where workflow_run_id is not null;

-- Run and step events carry their run. (For them job_id holds the run id too: the column
-- is not null and readers of the log parse it as a uuid.)
alter table collab.job_events add column run_id uuid;
create index job_events_run_idx on collab.job_events (run_id, seq) where run_id is not null;

-- Privileges: reads through RLS; writes only through the RPCs (SECURITY DEFINER).
grant select on collab.step_types, collab.workflows, collab.workflow_runs,
                collab.workflow_step_runs, collab.workflow_schedules to authenticated;
grant all on collab.step_types, collab.workflows, collab.workflow_runs,
             collab.workflow_step_runs, collab.workflow_schedules to service_role;
revoke all on collab.workflow_webhook_secrets from public, anon, authenticated, service_role;

alter table collab.step_types enable row level security;
alter table collab.workflows enable row level security;
alter table collab.workflow_runs enable row level security;
alter table collab.workflow_step_runs enable row level security;
alter table collab.workflow_schedules enable row level security;
alter table collab.workflow_webhook_secrets enable row level security;

create policy step_types_read_member on collab.step_types
  for select to authenticated
  using (executor_id = '*'
         or executor_id in (select m.executor_id from collab.executor_members m
                            where m.user_id = (select auth.uid())));

create policy workflows_read_member on collab.workflows
  for select to authenticated
  using (executor_id in (select m.executor_id from collab.executor_members m
                         where m.user_id = (select auth.uid())));

create policy workflow_runs_read_member on collab.workflow_runs
  for select to authenticated
  using (executor_id in (select m.executor_id from collab.executor_members m
                         where m.user_id = (select auth.uid())));

create policy workflow_step_runs_read_member on collab.workflow_step_runs
  for select to authenticated
  using (executor_id in (select m.executor_id from collab.executor_members m
                         where m.user_id = (select auth.uid())));

create policy workflow_schedules_read_member on collab.workflow_schedules
  for select to authenticated
  using (executor_id in (select m.executor_id from collab.executor_members m
                         where m.user_id = (select auth.uid())));

-- A policy that admits nobody (the table has no grants either): the secrets are read by
-- SECURITY DEFINER functions, as the table owner.
create policy webhook_secrets_owner_only on collab.workflow_webhook_secrets
  for select to service_role
  using (false);

-- The built-in step type.
insert into collab.step_types (executor_id, name, title, description, category, kind, config_schema, output_schema)
values ('*', 'approval', 'Approval',
        'Pauses the run until someone resumes this step (resume_run_v1) with data; the data is the step''s output.',
        'control', 'approval',
        '{"type": "object", "properties": {"message": {"type": "string"}}}'::jsonb,
        '{"type": "object"}'::jsonb);
