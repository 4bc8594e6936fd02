-- collab workflows: webhook triggers. A workflow's webhook has a secret (shown once, by
-- create_webhook_secret_v1); a delivery starts a run when its signature is the
-- HMAC-SHA256 of the raw body under that secret. HMAC is computed here with
-- pg_catalog.sha256 (no extension needed, so plain PostgreSQL and Supabase alike).

-- HMAC-SHA256 (RFC 2104) of `message` under `key`.
create function collab._hmac_sha256(key bytea, message bytea) returns bytea
  language plpgsql immutable set search_path = ''
as $$
declare
  k bytea := key;
  inner_key bytea;
  outer_key bytea;
begin
  if length(k) > 64 then
    k := sha256(k);
  end if;
  k := k || decode(repeat('00', 64 - length(k)), 'hex');
  inner_key := k;
  outer_key := k;
  for i in 0 .. 63 loop
    inner_key := set_byte(inner_key, i, get_byte(k, i) # 54);   -- 0x36
    outer_key := set_byte(outer_key, i, get_byte(k, i) # 92);   -- 0x5c
  end loop;
  return sha256(outer_key || sha256(inner_key || message));
end
$$;

-- Create (or rotate) the webhook secret of a workflow. The secret is returned this once;
-- afterwards only its fingerprint (the first 16 hex digits of its SHA-256) is shown.
create function collab.create_webhook_secret_v1(workflow_id uuid)
  returns jsonb
  language plpgsql security definer set search_path = ''
as $$
declare
  w collab.workflows;
  s text;
begin
  w := collab._lock_workflow(workflow_id, '{client,admin}');
  -- 32 bytes from two v4 UUIDs (244 bits of the server's strong random source).
  s := 'whsec_' || encode(sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())), 'hex');
  insert into collab.workflow_webhook_secrets as x (workflow_id, executor_id, secret, fingerprint)
  values (w.id, w.executor_id, s, left(encode(sha256(convert_to(s, 'UTF8')), 'hex'), 16))
  on conflict on constraint workflow_webhook_secrets_pkey do update
     set secret = excluded.secret, fingerprint = excluded.fingerprint, created_at = now();
  return (select jsonb_build_object('workflow_id', x.workflow_id, 'secret', x.secret,
                                    'fingerprint', x.fingerprint, 'created_at', x.created_at)
            from collab.workflow_webhook_secrets x where x.workflow_id = w.id);
end
$$;

-- { workflow_id, fingerprint, created_at } of a workflow's webhook (never the secret), or
-- null when it has none.
create function collab.webhook_secret_info_v1(workflow_id uuid)
  returns jsonb
  language plpgsql security definer set search_path = ''
as $$
declare
  w collab.workflows;
begin
  select * into w from collab.workflows x where x.id = webhook_secret_info_v1.workflow_id;
  if not found or not collab._caller_can_see(w.executor_id) then
    perform collab._raise('CL404', format('workflow %s not found', webhook_secret_info_v1.workflow_id));
  end if;
  return (select jsonb_build_object('workflow_id', x.workflow_id, 'fingerprint', x.fingerprint,
                                    'created_at', x.created_at)
            from collab.workflow_webhook_secrets x where x.workflow_id = w.id);
end
$$;

-- Remove a workflow's webhook: deliveries are refused from now on.
create function collab.delete_webhook_secret_v1(workflow_id uuid) returns boolean
  language plpgsql security definer set search_path = ''
as $$
declare
  w collab.workflows;
begin
  w := collab._lock_workflow(delete_webhook_secret_v1.workflow_id, '{client,admin}');
  delete from collab.workflow_webhook_secrets x where x.workflow_id = w.id;
  return found;
end
$$;

-- Start a run from a webhook delivery: `body` is the raw request body (UTF-8 text),
-- `signature` the hex HMAC-SHA256 of it under the workflow's secret (optionally prefixed
-- `sha256=`), `delivery_id` the sender's delivery id (the run's idempotency key is
-- 'webhook:<delivery_id>', so a redelivery returns the same run). The run's input is the
-- body parsed as JSON (a non-object is wrapped as {"body": ...}); trigger_type 'webhook'.
-- The signature is the authorisation: it is checked before anything else about the
-- request, and a missing, malformed or wrong one is CL403 with nothing written.
-- { run, created }.
create function collab.webhook_start_run_v1(workflow_id uuid, body text, signature text,
                                            delivery_id text default null)
  returns jsonb
  language plpgsql security definer set search_path = ''
as $$
declare
  w collab.workflows;
  key bytea;
  provided text;
  expected bytea;
  input jsonb;
begin
  select x.secret into provided from collab.workflow_webhook_secrets x
   where x.workflow_id = webhook_start_run_v1.workflow_id;
  if not found then
    perform collab._raise('CL404', format('no webhook for workflow %s', coalesce(webhook_start_run_v1.workflow_id::text, 'null')));
  end if;
  key := convert_to(provided, 'UTF8');
  if signature is null or btrim(signature) = '' then
    perform collab._raise('CL403', 'missing webhook signature: send the hex HMAC-SHA256 of the raw body');
  end if;
  provided := lower(regexp_replace(btrim(signature), '^sha256=', '', 'i'));
  if provided !~ '^[0-9a-f]+$' or char_length(provided) <> 64 then
    perform collab._raise('CL403', 'malformed webhook signature: expected 64 hex digits (optionally sha256=...)');
  end if;
  if octet_length(coalesce(body, '')) > 1048576 then
    perform collab._raise('CL413', 'webhook body is larger than 1048576 bytes');
  end if;
  expected := collab._hmac_sha256(key, convert_to(coalesce(body, ''), 'UTF8'));
  -- Compare HMACs of the two digests, not the digests: how long the comparison takes then
  -- says nothing about the expected signature (the attacker cannot predict either side).
  if collab._hmac_sha256(key, expected) <> collab._hmac_sha256(key, decode(provided, 'hex')) then
    perform collab._raise('CL403', 'webhook signature does not match the body');
  end if;

  if delivery_id is not null and char_length(delivery_id) not between 1 and 200 then
    perform collab._raise('CL400', 'delivery_id must be 1-200 characters');
  end if;
  begin
    input := coalesce(nullif(btrim(coalesce(body, '')), '')::jsonb, '{}'::jsonb);
  exception when others then
    perform collab._raise('CL400', 'webhook body is not JSON');
  end;
  if jsonb_typeof(input) <> 'object' then
    input := jsonb_build_object('body', input);
  end if;
  select * into w from collab.workflows x where x.id = webhook_start_run_v1.workflow_id;
  perform collab._check_run_input(w, input);
  return collab._start_run(w, input, 'webhook:' || delivery_id, 'webhook');
end
$$;
