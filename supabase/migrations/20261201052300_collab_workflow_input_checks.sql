-- collab workflows: the SQL check of a run's input covers the keywords that matter for
-- every caller, not only the SDK's.
--
-- Runs start from the SDK and the HTTP API (which check the whole input_schema with the
-- `jsonschema` package first, for precise messages) but also from paths that never pass
-- through Python: webhook deliveries, cron schedules, and direct calls of start_run_v1
-- through the Data API. So SQL is the authority for a stated subset, checked on the
-- input's top-level properties: `required`, `additionalProperties: false`, `type`
-- (as before) and now `enum`, `const`, `minimum`, `maximum`, `exclusiveMinimum`,
-- `exclusiveMaximum` (numbers), `minLength`, `maxLength` (strings, in characters),
-- `minItems`, `maxItems` (arrays). Other keywords (nested schemas, `pattern`, `format`,
-- combinators, `$ref`) are the SDK's and the HTTP API's; docs/workflows.md says so.

create or replace function collab._input_errors(schema jsonb, input jsonb) returns text[]
  language plpgsql immutable set search_path = ''
as $$
declare
  errors text[] := '{}';
  r record;
  types text[];
  actual text;
  n numeric;
  len integer;
  lo text;
  hi text;
  unit text;
begin
  if jsonb_typeof(input) is distinct from 'object' then
    return array['input must be a JSON object'];
  end if;
  if schema is null or jsonb_typeof(schema) <> 'object' then
    return errors;
  end if;
  if jsonb_typeof(schema -> 'required') = 'array' then
    for r in select k from jsonb_array_elements_text(schema -> 'required') as k where not input ? k loop
      errors := errors || format('input: "%s" is required', r.k);
    end loop;
  end if;
  if jsonb_typeof(schema -> 'properties') = 'object' then
    for r in select p.key, p.value as prop, input -> p.key as v
               from jsonb_each(schema -> 'properties') as p
              where input ? p.key and jsonb_typeof(p.value) = 'object' order by p.key loop
      types := case jsonb_typeof(r.prop -> 'type')
                 when 'string' then array[r.prop ->> 'type']
                 when 'array' then array(select jsonb_array_elements_text(r.prop -> 'type'))
               end;
      actual := jsonb_typeof(r.v);
      if types is not null
         and not (actual = any (types)
                  or (actual = 'number' and 'integer' = any (types) and (r.v #>> '{}')::numeric % 1 = 0)) then
        errors := errors || format('input.%s: must be %s (got %s)', r.key, array_to_string(types, ' or '), actual);
        continue;  -- the other keywords would only repeat it
      end if;
      if jsonb_typeof(r.prop -> 'enum') = 'array'
         and not exists (select 1 from jsonb_array_elements(r.prop -> 'enum') as e (v) where e.v = r.v) then
        errors := errors || format('input.%s: must be one of %s', r.key, r.prop -> 'enum');
      end if;
      if r.prop ? 'const' and r.v <> r.prop -> 'const' then
        errors := errors || format('input.%s: must be %s', r.key, r.prop -> 'const');
      end if;
      if actual = 'number' then
        n := (r.v #>> '{}')::numeric;
        if jsonb_typeof(r.prop -> 'minimum') = 'number' and n < (r.prop ->> 'minimum')::numeric then
          errors := errors || format('input.%s: must be at least %s', r.key, r.prop ->> 'minimum');
        end if;
        if jsonb_typeof(r.prop -> 'maximum') = 'number' and n > (r.prop ->> 'maximum')::numeric then
          errors := errors || format('input.%s: must be at most %s', r.key, r.prop ->> 'maximum');
        end if;
        if jsonb_typeof(r.prop -> 'exclusiveMinimum') = 'number' and n <= (r.prop ->> 'exclusiveMinimum')::numeric then
          errors := errors || format('input.%s: must be more than %s', r.key, r.prop ->> 'exclusiveMinimum');
        end if;
        if jsonb_typeof(r.prop -> 'exclusiveMaximum') = 'number' and n >= (r.prop ->> 'exclusiveMaximum')::numeric then
          errors := errors || format('input.%s: must be less than %s', r.key, r.prop ->> 'exclusiveMaximum');
        end if;
      elsif actual in ('string', 'array') then
        -- minLength/maxLength count a string's characters, minItems/maxItems an array's items.
        len := case when actual = 'string' then char_length(r.v #>> '{}') else jsonb_array_length(r.v) end;
        lo := case when actual = 'string' then 'minLength' else 'minItems' end;
        hi := case when actual = 'string' then 'maxLength' else 'maxItems' end;
        unit := case when actual = 'string' then 'characters' else 'items' end;
        if jsonb_typeof(r.prop -> lo) = 'number' and len < (r.prop ->> lo)::numeric then
          errors := errors || format('input.%s: must have at least %s %s', r.key, r.prop ->> lo, unit);
        end if;
        if jsonb_typeof(r.prop -> hi) = 'number' and len > (r.prop ->> hi)::numeric then
          errors := errors || format('input.%s: must have at most %s %s', r.key, r.prop ->> hi, unit);
        end if;
      end if;
    end loop;
  end if;
  if schema -> 'additionalProperties' = 'false'::jsonb then
    for r in select k from jsonb_object_keys(input) as k
              where not coalesce(schema -> 'properties', '{}'::jsonb) ? k order by k loop
      errors := errors || format('input: "%s" is not allowed (additionalProperties is false)', r.k);
    end loop;
  end if;
  return errors;
end
$$;
