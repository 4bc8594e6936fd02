-- collab workflows: validation of definitions and of run input, in SQL (authoritative;
-- the SDK may check first for friendlier messages).
--
-- A definition is the React Flow shape { nodes: [{ id, type, data }], edges: [{ id,
-- source, target }] }. Valid means: at least one node and at most 200, at most 1,000
-- edges, 256 KiB at most as JSON text; node and edge ids unique, 1-100 characters of
-- letters, digits and _ . : @ / + -; every edge between two existing nodes; no cycle;
-- every node type in the catalog of the workflow's executor (or built in); node data an
-- object whose optional max_attempts is an integer between 1 and 1000.

-- Whether `value` is an id usable as a node or edge id (and as a JSON key in the context).
create function collab._is_step_id(value text) returns boolean
  language plpgsql immutable set search_path = ''
as $$
begin
  return value is not null and char_length(value) <= 100 and value ~ '^[A-Za-z0-9][A-Za-z0-9_.:@/+-]*$';
end
$$;

-- Every error of `definition` for a workflow of `executor_id`, in a stable order (shape,
-- nodes, edges, cycles, types); an empty array when it is valid.
create function collab._definition_errors(executor_id text, definition jsonb) returns text[]
  language plpgsql stable set search_path = ''
as $$
declare
  errors text[] := '{}';
  nodes jsonb;
  edges jsonb;
  ids text[];
  srcs text[];
  dsts text[];
  remaining text[];
  removable text[];
  path text[];
  cur text;
  prev text;
  r record;
begin
  if definition is null or jsonb_typeof(definition) <> 'object' then
    return array['definition must be a JSON object {"nodes": [...], "edges": [...]}'];
  end if;
  if octet_length(definition::text) > 262144 then
    return array['definition is larger than 262144 bytes'];
  end if;
  nodes := coalesce(definition -> 'nodes', '[]'::jsonb);
  edges := coalesce(nullif(definition -> 'edges', 'null'::jsonb), '[]'::jsonb);
  if jsonb_typeof(nodes) <> 'array' then
    return array['nodes must be a JSON array'];
  end if;
  if jsonb_typeof(edges) <> 'array' then
    return array['edges must be a JSON array'];
  end if;
  if jsonb_array_length(nodes) = 0 then
    return array['the workflow has no nodes: add at least one step'];
  end if;
  if jsonb_array_length(nodes) > 200 then
    errors := errors || format('the workflow has %s nodes; at most 200 are allowed', jsonb_array_length(nodes));
  end if;
  if jsonb_array_length(edges) > 1000 then
    errors := errors || format('the workflow has %s edges; at most 1000 are allowed', jsonb_array_length(edges));
  end if;

  -- Nodes, one by one.
  for r in select n.ord - 1 as i, n.v from jsonb_array_elements(nodes) with ordinality as n (v, ord) loop
    if jsonb_typeof(r.v) <> 'object' then
      errors := errors || format('nodes[%s] must be a JSON object {"id", "type", "data"}', r.i);
    elsif jsonb_typeof(r.v -> 'id') is distinct from 'string' or not collab._is_step_id(r.v ->> 'id') then
      errors := errors || format('nodes[%s]: id must be a string of 1-100 characters: letters, digits and _ . : @ / + - (got %s)',
                                 r.i, coalesce(left((r.v -> 'id')::text, 60), 'nothing'));
    elsif jsonb_typeof(r.v -> 'type') is distinct from 'string' or char_length(r.v ->> 'type') not between 1 and 200 then
      errors := errors || format('node "%s": type must be a step type name', r.v ->> 'id');
    elsif jsonb_typeof(coalesce(r.v -> 'data', '{}'::jsonb)) not in ('object', 'null') then
      errors := errors || format('node "%s": data must be a JSON object', r.v ->> 'id');
    elsif r.v -> 'data' ? 'max_attempts'
          and (jsonb_typeof(r.v -> 'data' -> 'max_attempts') <> 'number'
               or (r.v -> 'data' ->> 'max_attempts')::numeric not between 1 and 1000
               or (r.v -> 'data' ->> 'max_attempts')::numeric % 1 <> 0) then
      errors := errors || format('node "%s": data.max_attempts must be an integer between 1 and 1000', r.v ->> 'id');
    end if;
  end loop;

  for r in select n.v ->> 'id' as id, array_agg(n.ord - 1 order by n.ord) as at
             from jsonb_array_elements(nodes) with ordinality as n (v, ord)
            where jsonb_typeof(n.v) = 'object' and jsonb_typeof(n.v -> 'id') = 'string'
            group by n.v ->> 'id' having count(*) > 1 order by min(n.ord) loop
    errors := errors || format('duplicate node id "%s" (nodes[%s])', r.id, array_to_string(r.at, '], nodes['));
  end loop;

  select array_agg(distinct n.v ->> 'id') into ids
    from jsonb_array_elements(nodes) as n (v)
   where jsonb_typeof(n.v) = 'object' and jsonb_typeof(n.v -> 'id') = 'string';
  ids := coalesce(ids, '{}');

  -- Edges.
  for r in select e.ord - 1 as i, e.v from jsonb_array_elements(edges) with ordinality as e (v, ord) loop
    if jsonb_typeof(r.v) <> 'object' then
      errors := errors || format('edges[%s] must be a JSON object {"id", "source", "target"}', r.i);
    elsif jsonb_typeof(r.v -> 'id') is distinct from 'string' or not collab._is_step_id(r.v ->> 'id') then
      errors := errors || format('edges[%s]: id must be a string of 1-100 characters: letters, digits and _ . : @ / + - (got %s)',
                                 r.i, coalesce(left((r.v -> 'id')::text, 60), 'nothing'));
    else
      if jsonb_typeof(r.v -> 'source') is distinct from 'string' or not (r.v ->> 'source') = any (ids) then
        errors := errors || format('edge "%s": source %s is not a node', r.v ->> 'id',
                                   coalesce((r.v -> 'source')::text, 'is missing and'));
      end if;
      if jsonb_typeof(r.v -> 'target') is distinct from 'string' or not (r.v ->> 'target') = any (ids) then
        errors := errors || format('edge "%s": target %s is not a node', r.v ->> 'id',
                                   coalesce((r.v -> 'target')::text, 'is missing and'));
      end if;
    end if;
  end loop;

  for r in select e.v ->> 'id' as id, array_agg(e.ord - 1 order by e.ord) as at
             from jsonb_array_elements(edges) with ordinality as e (v, ord)
            where jsonb_typeof(e.v) = 'object' and jsonb_typeof(e.v -> 'id') = 'string'
            group by e.v ->> 'id' having count(*) > 1 order by min(e.ord) loop
    errors := errors || format('duplicate edge id "%s" (edges[%s])', r.id, array_to_string(r.at, '], edges['));
  end loop;

  -- Cycles (over the edges between existing nodes): peel off nodes without incoming
  -- edges (Kahn); whatever remains lies on or behind a cycle. Walk predecessors from the
  -- smallest remaining id until a node repeats: that stretch is a cycle.
  select coalesce(array_agg(x.s order by x.s, x.t), '{}'), coalesce(array_agg(x.t order by x.s, x.t), '{}')
    into srcs, dsts
    from (select distinct e.v ->> 'source' as s, e.v ->> 'target' as t
            from jsonb_array_elements(edges) as e (v)
           where jsonb_typeof(e.v) = 'object' and (e.v ->> 'source') = any (ids)
             and (e.v ->> 'target') = any (ids)) x;
  remaining := ids;
  loop
    select array_agg(i) into removable from unnest(remaining) as i
     where not exists (select 1 from unnest(srcs, dsts) as d (source, target)
                        where d.target = i and d.source = any (remaining));
    exit when removable is null;
    select coalesce(array_agg(i), '{}') into remaining from unnest(remaining) as i where not i = any (removable);
  end loop;
  if cardinality(remaining) > 0 then
    select min(i) into cur from unnest(remaining) as i;
    path := array[cur];
    loop
      select min(d.source) into prev from unnest(srcs, dsts) as d (source, target)
       where d.target = cur and d.source = any (remaining);
      if prev = any (path) then
        -- path runs backwards along the edges (each element's predecessor follows it):
        -- the cycle is its tail from prev; print it forwards, from its smallest id.
        path := path[array_position(path, prev):];
        select array_agg(p order by o desc) into path from unnest(path) with ordinality as u (p, o);
        select array_agg(p order by (o + cardinality(path) - array_position(path, (select min(x) from unnest(path) x))) % cardinality(path))
          into path from unnest(path) with ordinality as u (p, o);
        errors := errors || format('cycle: %s -> %s', array_to_string(path, ' -> '), path[1]);
        exit;
      end if;
      path := path || prev;
      cur := prev;
    end loop;
  end if;

  -- Step types.
  for r in select n.v ->> 'id' as id, n.v ->> 'type' as type
             from jsonb_array_elements(nodes) with ordinality as n (v, ord)
            where jsonb_typeof(n.v) = 'object' and jsonb_typeof(n.v -> 'type') = 'string'
              and not exists (select 1 from collab.step_types s
                               where s.name = n.v ->> 'type'
                                 and s.executor_id in ('*', _definition_errors.executor_id))
            order by n.ord loop
    errors := errors || format('node "%s": unknown step type "%s" (not in the catalog of executor %s)',
                               r.id, r.type, executor_id);
  end loop;
  return errors;
end
$$;

-- { valid, errors } for a definition that need not be saved.
create function collab.validate_definition_v1(executor_id text, definition jsonb) returns jsonb
  language plpgsql stable security definer set search_path = ''
as $$
declare
  errors text[];
begin
  perform collab._check_name('executor_id', executor_id);
  if not collab._caller_can_see(executor_id) then
    perform collab._raise('CL403', format('not allowed: caller is not a member of executor %s', executor_id));
  end if;
  errors := collab._definition_errors(executor_id, definition);
  return jsonb_build_object('valid', cardinality(errors) = 0, 'errors', to_jsonb(errors));
end
$$;

-- Structural checks of a run's input against the workflow's input_schema (a JSON Schema):
-- `required`, the `type` of each listed property (string, number, integer, boolean,
-- object, array, null, or a list of them) and `additionalProperties: false`. The SDK checks
-- the whole schema with the jsonschema package; SQL keeps the shape honest for every caller.
create function collab._input_errors(schema jsonb, input jsonb) returns text[]
  language plpgsql immutable set search_path = ''
as $$
declare
  errors text[] := '{}';
  r record;
  types text[];
  actual text;
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
               from jsonb_each(schema -> 'properties') as p where input ? p.key order by p.key loop
      types := case jsonb_typeof(r.prop -> 'type')
                 when 'string' then array[r.prop ->> 'type']
                 when 'array' then array(select jsonb_array_elements_text(r.prop -> 'type'))
               end;
      continue when types is null;
      actual := jsonb_typeof(r.v);
      if not (actual = any (types)
              or (actual = 'number' and 'integer' = any (types) and (r.v #>> '{}')::numeric % 1 = 0)) then
        errors := errors || format('input.%s: must be %s (got %s)', r.key, array_to_string(types, ' or '), actual);
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

-- Raise CL400 unless `input` suits workflow `w` (the errors joined in the message and as a
-- JSON array in the DETAIL); CL413 above 1 MiB.
create function collab._check_run_input(w collab.workflows, input jsonb) returns void
  language plpgsql stable set search_path = ''
as $$
declare
  errors text[];
begin
  perform collab._check_size('input', input, 1048576);
  errors := collab._input_errors(w.input_schema, input);
  if cardinality(errors) > 0 then
    raise exception using errcode = 'CL400',
      message = format('invalid input for workflow %s: %s', w.id, array_to_string(errors, '; ')),
      detail = to_jsonb(errors)::text;
  end if;
end
$$;
