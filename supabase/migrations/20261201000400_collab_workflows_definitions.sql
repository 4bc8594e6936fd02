-- collab workflows: definitions. A draft may be edited freely (and be invalid); publish
-- validates it and freezes it; duplicate makes an editable copy with version + 1;
-- archive retires it (no new runs; runs in flight go on). Authoring needs the client or
-- admin role on the executor; reads are RLS (any member).

-- Lock a workflow for a change, like collab._lock_job: not visible is CL404, a member
-- without one of `roles` CL403, a status outside `allowed_statuses` CL412.
create function collab._lock_workflow(workflow_id uuid, roles text[], allowed_statuses text[] default null,
                                      verb text default null)
  returns collab.workflows
  language plpgsql set search_path = ''
as $$
declare
  w collab.workflows;
begin
  if workflow_id is null then
    perform collab._raise('CL400', 'workflow_id is required');
  end if;
  select * into w from collab.workflows where id = _lock_workflow.workflow_id for update;
  if not found or not collab._caller_can_see(w.executor_id) then
    perform collab._raise('CL404', format('workflow %s not found', workflow_id));
  end if;
  perform collab._require_member(w.executor_id, roles);
  if allowed_statuses is not null and not w.status = any (allowed_statuses) then
    perform collab._raise('CL412', format('cannot %s workflow %s: it is %s%s', verb, w.id, w.status,
      case when w.status <> 'draft' and verb = 'update'
           then ' (a published definition is frozen; duplicate_workflow_v1 makes an editable draft)' else '' end));
  end if;
  return w;
end
$$;

-- Shape checks of the fields a draft may hold (full validation is for publish).
create function collab._check_workflow_fields(name text, description text, definition jsonb, input_schema jsonb)
  returns void
  language plpgsql immutable set search_path = ''
as $$
begin
  if name is not null and char_length(btrim(name)) not between 1 and 200 then
    perform collab._raise('CL400', 'name must be 1-200 characters');
  end if;
  if description is not null and char_length(description) > 10000 then
    perform collab._raise('CL400', 'description must be at most 10000 characters');
  end if;
  if definition is not null then
    if jsonb_typeof(definition) <> 'object' then
      perform collab._raise('CL400', 'definition must be a JSON object {"nodes": [...], "edges": [...]}');
    end if;
    perform collab._check_size('definition', definition, 262144);
  end if;
  if input_schema is not null then
    if jsonb_typeof(input_schema) not in ('object', 'null') then
      perform collab._raise('CL400', 'input_schema must be a JSON object (a JSON Schema) or null');
    end if;
    perform collab._check_size('input_schema', input_schema, 65536);
  end if;
end
$$;

create function collab.create_workflow_v1(
  executor_id text, name text, description text default '',
  definition jsonb default '{"nodes": [], "edges": []}'::jsonb, input_schema jsonb default null)
  returns setof collab.workflows
  language plpgsql security definer set search_path = ''
as $$
begin
  perform collab._check_name('executor_id', executor_id);
  if name is null then
    perform collab._raise('CL400', 'name is required');
  end if;
  perform collab._check_workflow_fields(name, description, definition, input_schema);
  perform collab._require_member(executor_id, '{client,admin}');
  return query
    insert into collab.workflows (executor_id, name, description, definition, input_schema)
    values (create_workflow_v1.executor_id, btrim(create_workflow_v1.name),
            coalesce(create_workflow_v1.description, ''),
            coalesce(create_workflow_v1.definition, '{"nodes": [], "edges": []}'::jsonb),
            nullif(create_workflow_v1.input_schema, 'null'::jsonb))
    returning *;
end
$$;

-- Change a draft. Arguments left null keep their value; input_schema 'null'::jsonb (or
-- {}) removes the constraint. A published or archived workflow is refused (CL412).
create function collab.update_workflow_v1(
  workflow_id uuid, name text default null, description text default null,
  definition jsonb default null, input_schema jsonb default null)
  returns setof collab.workflows
  language plpgsql security definer set search_path = ''
as $$
declare
  w collab.workflows;
begin
  perform collab._check_workflow_fields(name, description, definition, input_schema);
  w := collab._lock_workflow(workflow_id, '{client,admin}', '{draft}', 'update');
  return query
    update collab.workflows u
       set name = coalesce(btrim(update_workflow_v1.name), u.name),
           description = coalesce(update_workflow_v1.description, u.description),
           definition = coalesce(update_workflow_v1.definition, u.definition),
           input_schema = case when update_workflow_v1.input_schema is null then u.input_schema
                               else nullif(update_workflow_v1.input_schema, 'null'::jsonb) end,
           updated_at = now()
     where u.id = w.id
    returning u.*;
end
$$;

-- Delete a draft or an archived workflow that has no runs (with its schedules and
-- webhook secret). Published workflows are refused: archive them first.
create function collab.delete_workflow_v1(workflow_id uuid)
  returns setof collab.workflows
  language plpgsql security definer set search_path = ''
as $$
declare
  w collab.workflows;
begin
  w := collab._lock_workflow(workflow_id, '{client,admin}', '{draft,archived}', 'delete');
  if exists (select 1 from collab.workflow_runs r where r.workflow_id = w.id) then
    perform collab._raise('CL412', format('cannot delete workflow %s: it has runs', w.id));
  end if;
  delete from collab.workflows d where d.id = w.id;
  return next w;
end
$$;

-- Publish a draft: validate, then freeze. An invalid definition is refused with CL400,
-- the errors joined in the message and as a JSON array in the error's DETAIL.
-- Publishing a published workflow returns it unchanged.
create function collab.publish_workflow_v1(workflow_id uuid)
  returns setof collab.workflows
  language plpgsql security definer set search_path = ''
as $$
declare
  w collab.workflows;
  errors text[];
begin
  w := collab._lock_workflow(workflow_id, '{client,admin}', '{draft,published}', 'publish');
  if w.status = 'published' then
    return next w;
    return;
  end if;
  errors := collab._definition_errors(w.executor_id, w.definition);
  if cardinality(errors) > 0 then
    raise exception using errcode = 'CL400',
      message = format('cannot publish workflow %s: %s', w.id, array_to_string(errors, '; ')),
      detail = to_jsonb(errors)::text;
  end if;
  return query
    update collab.workflows u
       set status = 'published', published_at = now(), updated_at = now()
     where u.id = w.id
    returning u.*;
end
$$;

-- A copy of any workflow as a new draft, version + 1 (the copy's parent_id is the source).
create function collab.duplicate_workflow_v1(workflow_id uuid, name text default null)
  returns setof collab.workflows
  language plpgsql security definer set search_path = ''
as $$
declare
  w collab.workflows;
begin
  perform collab._check_workflow_fields(name, null, null, null);
  w := collab._lock_workflow(workflow_id, '{client,admin}');
  return query
    insert into collab.workflows (executor_id, name, description, version, definition, input_schema, parent_id)
    values (w.executor_id, coalesce(btrim(duplicate_workflow_v1.name), w.name), w.description,
            w.version + 1, w.definition, w.input_schema, w.id)
    returning *;
end
$$;

-- Retire a workflow: no new runs start (manual, webhook or schedule); runs in flight go on.
create function collab.archive_workflow_v1(workflow_id uuid)
  returns setof collab.workflows
  language plpgsql security definer set search_path = ''
as $$
declare
  w collab.workflows;
begin
  w := collab._lock_workflow(workflow_id, '{client,admin}');
  if w.status = 'archived' then
    return next w;
    return;
  end if;
  return query
    update collab.workflows u set status = 'archived', updated_at = now()
     where u.id = w.id
    returning u.*;
end
$$;

-- Reads (SECURITY INVOKER: row-level security decides).

create function collab._require_visible_workflow(workflow_id uuid) returns void
  language plpgsql stable set search_path = ''
as $$
begin
  if not exists (select 1 from collab.workflows w where w.id = _require_visible_workflow.workflow_id) then
    perform collab._raise('CL404', format('workflow %s not found', workflow_id));
  end if;
end
$$;

create function collab.get_workflow_v1(workflow_id uuid)
  returns setof collab.workflows
  language plpgsql stable set search_path = ''
as $$
begin
  perform collab._require_visible_workflow(workflow_id);
  return query select * from collab.workflows w where w.id = get_workflow_v1.workflow_id;
end
$$;

-- { valid, errors } of a saved workflow's definition. (SECURITY DEFINER, as publish: the
-- catalog check reads step types; the caller must see the workflow.)
create function collab.validate_workflow_v1(workflow_id uuid) returns jsonb
  language plpgsql stable security definer set search_path = ''
as $$
declare
  w collab.workflows;
  errors text[];
begin
  select * into w from collab.workflows x where x.id = validate_workflow_v1.workflow_id;
  if not found or not collab._caller_can_see(w.executor_id) then
    perform collab._raise('CL404', format('workflow %s not found', workflow_id));
  end if;
  errors := collab._definition_errors(w.executor_id, w.definition);
  return jsonb_build_object('valid', cardinality(errors) = 0, 'errors', to_jsonb(errors));
end
$$;

-- Newest workflows first: { items, count, nextCursor }, as jobs_recent_v1.
create function collab.workflows_v1(
  executor_id text default null, status text default null, page_size integer default 20,
  cursor text default null)
  returns jsonb
  language plpgsql stable set search_path = '' set plan_cache_mode = force_custom_plan
as $$
declare
  c record;
  rows jsonb;
  n integer;
begin
  perform collab._check_range('page_size', page_size, 1, 1000);
  if status is not null and status not in ('draft', 'published', 'archived') then
    perform collab._raise('CL400', 'status must be draft, published or archived');
  end if;
  c := collab._cursor_decode(cursor);
  select coalesce(jsonb_agg(to_jsonb(p) order by p.created_at desc, p.id desc), '[]'::jsonb), count(*)
    into rows, n
    from (select * from collab.workflows w
           where (workflows_v1.executor_id is null or w.executor_id = workflows_v1.executor_id)
             and (workflows_v1.status is null or w.status = workflows_v1.status)
             and (c.ts is null
                  or (c.id is null and w.created_at < c.ts)
                  or (c.id is not null and (w.created_at, w.id) < (c.ts, c.id)))
           order by w.created_at desc, w.id desc
           limit page_size + 1) p;
  return collab._page(rows, n, page_size);
end
$$;
