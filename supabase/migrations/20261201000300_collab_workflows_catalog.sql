-- collab workflows: the step catalog. Workers register the step types they handle when
-- they start (an upsert, like heartbeats); the built-in `approval` is seeded by the tables
-- migration under executor_id '*'.

-- Upsert step types of `executor_id`. `step_types`: JSON array of {name, title?,
-- description?, category?, config_schema?, input_schema?, output_schema?}. Registered
-- types are `job` steps (a job of that type runs them); built-in names are refused.
-- Returns the catalog entries written, by name.
create function collab.register_step_types_v1(executor_id text, step_types jsonb)
  returns setof collab.step_types
  language plpgsql security definer set search_path = ''
as $$
declare
  bad record;
begin
  perform collab._check_name('executor_id', executor_id);
  if jsonb_typeof(step_types) is distinct from 'array' then
    perform collab._raise('CL400', 'step_types must be a JSON array of {name, title, ...} objects');
  end if;
  perform collab._check_range('number of step types', jsonb_array_length(step_types), 0, 1000);
  select t.ord, t.msg, t.code into bad from (
    select s.ord, case
      when jsonb_typeof(s.v) <> 'object' then 'must be a JSON object'
      when jsonb_typeof(s.v -> 'name') is distinct from 'string'
           or s.v ->> 'name' !~ '^[A-Za-z0-9][A-Za-z0-9_.:@/+-]*$' or char_length(s.v ->> 'name') > 200
        then 'name must be 1-200 characters: letters, digits and _ . : @ / + -'
      when jsonb_typeof(s.v -> 'title') not in ('string', 'null') or char_length(s.v ->> 'title') not between 1 and 200
        then 'title must be a string of 1-200 characters'
      when jsonb_typeof(s.v -> 'description') not in ('string', 'null') or char_length(s.v ->> 'description') > 10000
        then 'description must be a string of at most 10000 characters'
      when jsonb_typeof(s.v -> 'category') not in ('string', 'null') or char_length(s.v ->> 'category') not between 1 and 100
        then 'category must be a string of 1-100 characters'
      when jsonb_typeof(s.v -> 'config_schema') not in ('object', 'null')
        then 'config_schema must be a JSON object (a JSON Schema) or null'
      when jsonb_typeof(s.v -> 'input_schema') not in ('object', 'null')
        then 'input_schema must be a JSON object (a JSON Schema) or null'
      when jsonb_typeof(s.v -> 'output_schema') not in ('object', 'null')
        then 'output_schema must be a JSON object (a JSON Schema) or null'
      when octet_length(s.v::text) > 65536 then 'is larger than 65536 bytes'
      when exists (select 1 from collab.step_types b where b.executor_id = '*' and b.name = s.v ->> 'name')
        then format('%s is a built-in step type', s.v ->> 'name')
    end as msg,
    case when exists (select 1 from collab.step_types b where b.executor_id = '*' and b.name = s.v ->> 'name')
         then 'CL409' when octet_length(s.v::text) > 65536 then 'CL413' else 'CL400' end as code
    from jsonb_array_elements(step_types) with ordinality as s (v, ord)) t
   where t.msg is not null order by t.ord limit 1;
  if found then
    perform collab._raise(bad.code, format('step_types[%s]: %s', bad.ord - 1, bad.msg));
  end if;
  perform collab._require_member(executor_id, '{worker,admin}');

  return query
  insert into collab.step_types as c (executor_id, name, title, description, category, kind,
                                      config_schema, input_schema, output_schema)
  select distinct on (s.v ->> 'name')
         register_step_types_v1.executor_id, s.v ->> 'name', coalesce(s.v ->> 'title', s.v ->> 'name'),
         coalesce(s.v ->> 'description', ''), coalesce(s.v ->> 'category', 'general'), 'job',
         nullif(s.v -> 'config_schema', 'null'::jsonb), nullif(s.v -> 'input_schema', 'null'::jsonb),
         nullif(s.v -> 'output_schema', 'null'::jsonb)
    from jsonb_array_elements(step_types) with ordinality as s (v, ord)
   order by s.v ->> 'name', s.ord desc
  on conflict on constraint step_types_pkey do update
     set title = excluded.title, description = excluded.description, category = excluded.category,
         config_schema = excluded.config_schema, input_schema = excluded.input_schema,
         output_schema = excluded.output_schema, updated_at = now()
  returning c.*;
end
$$;

-- The catalog a palette shows: built-ins and the step types of `executor_id` (or of every
-- executor the caller sees), by category and name.
create function collab.step_types_v1(executor_id text default null)
  returns setof collab.step_types
  language plpgsql stable set search_path = ''
as $$
begin
  return query
    select * from collab.step_types s
     where step_types_v1.executor_id is null or s.executor_id in ('*', step_types_v1.executor_id)
     order by s.category, s.name, s.executor_id;
end
$$;
