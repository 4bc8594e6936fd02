-- collab: complete many jobs in one transaction (what a worker that claims in batches
-- needs: one commit for a whole batch instead of one per job).

-- `completions`: JSON array of {job_id, result?, attempt?}. Completes each job the
-- worker still holds (live lease, and the given attempt); jobs it no longer holds are
-- left unchanged and absent from the result. Jobs this worker already completed are
-- returned unchanged (a replay after a dropped connection writes nothing).
create function collab.complete_jobs_v1(worker_id text, completions jsonb)
  returns setof collab.jobs
  language plpgsql security definer set search_path = ''
as $$
declare
  trusted boolean := collab._caller_is_trusted();
  bad record;
begin
  perform collab._check_name('worker_id', worker_id);
  if jsonb_typeof(completions) is distinct from 'array' then
    perform collab._raise('CL400', 'completions must be a JSON array of {job_id, result?, attempt?}');
  end if;
  perform collab._check_range('number of completions', jsonb_array_length(completions), 0, 1000);
  select t.ord, t.msg into bad from (
  select c.ord, case
      when jsonb_typeof(c.v) <> 'object' then 'must be a JSON object'
      when c.v ->> 'job_id' is null
           or c.v ->> 'job_id' !~* '^[0-9a-f]{8}-?([0-9a-f]{4}-?){3}[0-9a-f]{12}$' then 'job_id must be a uuid'
      when jsonb_typeof(c.v -> 'attempt') not in ('number', 'null')
           or (c.v ->> 'attempt')::numeric not between 1 and 1000
           or (c.v ->> 'attempt')::numeric % 1 <> 0 then 'attempt must be an integer between 1 and 1000'
      when octet_length((c.v -> 'result')::text) > 1048576 then 'result is larger than 1048576 bytes'
    end as msg
    from jsonb_array_elements(completions) with ordinality as c (v, ord)) t
   where t.msg is not null
   order by t.ord
   limit 1;
  if found then
    perform collab._raise(case when bad.msg like 'result%' then 'CL413' else 'CL400' end,
                          format('completions[%s]: %s', bad.ord - 1, bad.msg));
  end if;

  return query
  with input as (
    select (c.v ->> 'job_id')::uuid as id, nullif(c.v -> 'result', 'null'::jsonb) as result,
           (c.v ->> 'attempt')::integer as attempt
      from jsonb_array_elements(completions) as c (v)
  ), allowed as (
    select i.*, j.status, j.lease_owner, j.next_run_at, j.attempts, j.executor_id
      from input i join collab.jobs j on j.id = i.id
     where trusted
        or exists (select 1 from collab.executor_members m
                    where m.executor_id = j.executor_id and m.user_id = auth.uid()
                      and m.role in ('worker', 'admin'))
  ), done as (
    update collab.jobs j
       set status = 'succeeded', result = a.result, finished_at = now(), updated_at = now()
      from allowed a
     where j.id = a.id and j.status = 'running' and j.lease_owner = complete_jobs_v1.worker_id
       and j.next_run_at >= now() and (a.attempt is null or a.attempt = j.attempts)
    returning j.*
  )
  select * from done
  union all
  select j.* from collab.jobs j join allowed a on a.id = j.id
   where a.status = 'succeeded' and a.lease_owner = complete_jobs_v1.worker_id
     and (a.attempt is null or a.attempt = a.attempts);
end
$$;

revoke all on function collab.complete_jobs_v1(text, jsonb) from public;
grant execute on function collab.complete_jobs_v1(text, jsonb) to authenticated, service_role;
