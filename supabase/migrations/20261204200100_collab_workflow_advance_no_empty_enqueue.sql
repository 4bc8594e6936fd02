-- collab workflows: a finish that makes no step ready enqueues nothing, not zero rows.
--
-- _advance_run enqueued the ready steps' jobs in one INSERT ... SELECT into collab.jobs.
-- Half of a diamond's finishes make no step ready (the first of the join's parents, the
-- run's last step): the INSERT then wrote no row but still fired the queue's AFTER
-- statement trigger on collab.jobs (`_jobs_after_insert`: a PL/pgSQL call with its
-- transition table, an event insert of zero rows with collab.job_events' own statement
-- triggers, a count insert of zero rows) - on half of a diamond's finishes, for nothing.
-- The ready steps are now found first (the same read under the same run lock) and the
-- enqueue runs only when there are some; the same rows are written in the same order.
-- The same read counts the run's steps, so a finish that makes none ready settles the
-- run's status without reading them again.

create or replace function collab._advance_run(run_id uuid) returns text
  language plpgsql set search_path = ''
as $$
declare
  r collab.workflow_runs;
  c record;
  queued integer := 0;
  waiting jsonb;
  next_status text;
begin
  select * into r from collab.workflow_runs x where x.id = _advance_run.run_id;
  -- One read of the run's steps: the ready ones, and the counts that settle the run's
  -- status when none is. Every writer of the run's steps holds the run's row lock (the
  -- caller's), so the steps found ready here are still ready in the statement below.
  select array_agg(s.step_id) filter (
           where s.status = 'pending'
             and not exists (select 1 from collab.workflow_step_runs q
                              where q.run_id = s.run_id and q.step_id = any (s.predecessors)
                                and q.status <> 'succeeded')) as ready,
         count(*) as total,
         count(*) filter (where s.status = 'succeeded') as done,
         count(*) filter (where s.status in ('queued', 'running')) as active,
         count(*) filter (where s.status = 'waiting') as waiting
    into c
    from collab.workflow_step_runs s where s.run_id = r.id;
  if c.ready is not null then
    with ready as materialized (
      select s.step_id, s.type, s.kind, s.config, s.max_attempts,
             jsonb_build_object(
               'input', r.input,
               'steps', coalesce((select jsonb_object_agg(q.step_id, q.output)
                                    from collab.workflow_step_runs q
                                   where q.run_id = s.run_id and q.step_id = any (s.predecessors)),
                                 '{}'::jsonb)) as input
        from collab.workflow_step_runs s
       where s.run_id = r.id and s.step_id = any (c.ready) and s.status = 'pending'
    ), enqueued as (
      insert into collab.jobs (type, executor_id, payload, max_attempts, workflow_run_id, workflow_step_id)
      select y.type, r.executor_id,
             jsonb_build_object('run_id', r.id, 'workflow_id', r.workflow_id, 'step_id', y.step_id,
                                'config', y.config) || y.input,
             y.max_attempts, r.id, y.step_id
        from ready y where y.kind = 'job'
       order by y.step_id
      returning id, workflow_step_id
    ), moved as (
      update collab.workflow_step_runs s
         set status = case when y.kind = 'job' then 'queued' else 'waiting' end,
             job_id = e.id, input = y.input, queued_at = now(), updated_at = now()
        from ready y left join enqueued e on e.workflow_step_id = y.step_id
       where s.run_id = r.id and s.step_id = y.step_id
      returning s.step_id, s.status, s.type
    )
    select count(*) filter (where m.status = 'queued'),
           jsonb_agg(jsonb_build_object('run_id', r.id, 'step_id', m.step_id, 'type', m.type) order by m.step_id)
             filter (where m.status = 'waiting')
      into queued, waiting
      from moved m;
    if waiting is not null then
      insert into collab.job_events (job_id, executor_id, event_type, payload, run_id)
      select r.id, r.executor_id, 'step_waiting', w.payload, r.id
        from jsonb_array_elements(waiting) with ordinality as w (payload, ord) order by w.ord;
    end if;
    if queued > 0 and r.status = 'running' then
      return 'running';  -- a job step is queued now: the run stays running
    end if;
    select null::text[] as ready, count(*) as total,
           count(*) filter (where s.status = 'succeeded') as done,
           count(*) filter (where s.status in ('queued', 'running')) as active,
           count(*) filter (where s.status = 'waiting') as waiting
      into c
      from collab.workflow_step_runs s where s.run_id = r.id;
  end if;

  next_status := case when c.done = c.total then 'succeeded'
                      when c.active = 0 and c.waiting > 0 then 'paused'
                      else 'running' end;
  if next_status <> r.status then
    perform collab._set_run_status(r.id, next_status);
  end if;
  return next_status;
end
$$;
