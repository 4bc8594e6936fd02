-- collab workflows: webhook secrets are stored encrypted, never in clear.
--
-- A delivery is authenticated by the HMAC-SHA256 of its body under the workflow's
-- secret, so the database needs the secret itself (a hash could not check a signature):
-- it is encrypted, not hashed. Where the secret lives:
--
-- - **Supabase Vault** when the `vault` schema exists (every Supabase project):
--   `vault.create_secret` stores it encrypted with a key that never enters the database
--   (Vault's root key), and collab_webhook_secrets keeps only its Vault id. A delivery
--   reads it from `vault.decrypted_secrets`; a rotation is `vault.update_secret`; deleting
--   the webhook (or its workflow) deletes the Vault secret.
-- - **pgcrypto** elsewhere, where the extension is available (it is created here when
--   the server ships it): `pgp_sym_encrypt_bytea` (AES-128, salted, integrity-checked)
--   under a random 32-byte key made by this migration and kept in
--   `collab_private.secret_keys`, a table no role but its owner can read, apart from the
--   secrets.
-- - **Without either** (e.g. the embedded server of `collab dev`, which ships no
--   contrib extensions): the same key, with the HMAC-SHA256 collab already computes for
--   signatures used as a pseudo-random function: a random 16-byte nonce, the secret
--   XORed with HMAC(k_enc, nonce || counter) blocks, and HMAC(k_mac, nonce || ciphertext)
--   as its tag (encrypt-then-MAC; k_enc and k_mac derived from the key by HMAC).
--
-- Either way a copy or a mis-granted read of the secrets table yields no secret; a full
-- dump of the database includes the fallback key, as with any key kept in the database
-- (Vault keeps its key outside).
--
-- Secrets made before this migration are moved the same way and the clear column is
-- dropped. Nothing else changes: the secret is shown once by create_webhook_secret_v1,
-- only its fingerprint afterwards, and webhook_start_run_v1 checks signatures as before.

do $$
begin
  if exists (select 1 from pg_catalog.pg_available_extensions where name = 'pgcrypto') then
    create extension if not exists pgcrypto;
  end if;
end
$$;

-- The key of the pgcrypto fallback: one row, readable by the owner only (no grants, RLS
-- on with no policy).
create table collab_private.secret_keys (
  name       text        primary key,
  key        text        not null,
  created_at timestamptz not null default now()
);
comment on table collab_private.secret_keys is 'Keys of secrets encrypted with pgcrypto (webhook secrets without Supabase Vault); the owner reads them, nobody else';
revoke all on collab_private.secret_keys from public, anon, authenticated, service_role;
alter table collab_private.secret_keys enable row level security;
insert into collab_private.secret_keys (name, key)
values ('webhook', encode(sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())), 'hex'));

-- Whether Supabase Vault is there to keep secrets.
create function collab_private._vault_present() returns boolean
  language sql stable set search_path = ''
as $$
  select exists (select 1 from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
                  where n.nspname = 'vault' and p.proname = 'create_secret')
$$;

-- `data` encrypted (encrypt) or decrypted (not encrypt) under the webhook key: with
-- pgcrypto's pgp_sym_*_bytea wherever the extension is installed (`extensions` on
-- Supabase, usually `public` elsewhere), else by collab_private._hmac_ctr. `scheme` says
-- which: 'pgp' or 'hmac-ctr' (encrypting: the scheme to use, null for the best there is).
create function collab_private._webhook_cipher(encrypt boolean, data bytea, scheme text default null)
  returns bytea
  language plpgsql stable set search_path = ''
as $$
declare
  schema_name text := (select n.nspname from pg_catalog.pg_extension e
                         join pg_catalog.pg_namespace n on n.oid = e.extnamespace
                        where e.extname = 'pgcrypto');
  k text := (select x.key from collab_private.secret_keys x where x.name = 'webhook');
  out bytea;
begin
  scheme := coalesce(scheme, case when schema_name is not null then 'pgp' else 'hmac-ctr' end);
  if scheme = 'hmac-ctr' then
    return collab_private._hmac_ctr(encrypt, decode(k, 'hex'), data);
  end if;
  if schema_name is null then
    raise exception 'this webhook secret was encrypted with pgcrypto, which is no longer installed'
      using errcode = '55000';
  end if;
  if encrypt then
    execute format('select %I.pgp_sym_encrypt_bytea($1, $2, %L)', schema_name, 'cipher-algo=aes128')
      into out using data, k;
  else
    execute format('select %I.pgp_sym_decrypt_bytea($1, $2)', schema_name) into out using data, k;
  end if;
  return out;
end
$$;

-- The no-extension scheme: nonce (16) || data XOR HMAC(k_enc, nonce || int4 counter) ||
-- HMAC(k_mac, nonce || ciphertext) (32). Decrypting checks the tag first.
create function collab_private._hmac_ctr(encrypt boolean, key bytea, data bytea) returns bytea
  language plpgsql volatile set search_path = ''
as $$
declare
  k_enc bytea := collab._hmac_sha256(key, convert_to('collab webhook secret: encryption', 'UTF8'));
  k_mac bytea := collab._hmac_sha256(key, convert_to('collab webhook secret: authentication', 'UTF8'));
  nonce bytea;
  body bytea;
  stream bytea := ''::bytea;
  i integer := 0;
begin
  if encrypt then
    nonce := uuid_send(gen_random_uuid());
    body := data;
  else
    if length(data) < 48 then
      raise exception 'corrupt webhook secret' using errcode = 'XX001';
    end if;
    nonce := substring(data from 1 for 16);
    body := substring(data from 17 for length(data) - 48);
    if collab._hmac_sha256(k_mac, nonce || body) <> substring(data from length(data) - 31) then
      raise exception 'corrupt webhook secret (its tag does not match)' using errcode = 'XX001';
    end if;
  end if;
  while length(stream) < length(body) loop
    stream := stream || collab._hmac_sha256(k_enc, nonce || int4send(i));
    i := i + 1;
  end loop;
  for j in 0 .. length(body) - 1 loop
    body := set_byte(body, j, get_byte(body, j) # get_byte(stream, j));
  end loop;
  if encrypt then
    return nonce || body || collab._hmac_sha256(k_mac, nonce || body);
  end if;
  return body;
end
$$;

revoke all on function collab_private._vault_present(), collab_private._webhook_cipher(boolean, bytea, text),
                       collab_private._hmac_ctr(boolean, bytea, bytea)
  from public, anon, authenticated, service_role;

-- Store `secret` for workflow `workflow_id` (a new row or a rotation): in Vault when it is
-- there, else encrypted with pgcrypto.
create function collab._store_webhook_secret(workflow_id uuid, executor_id text, secret text) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  fingerprint text := left(encode(sha256(convert_to(secret, 'UTF8')), 'hex'), 16);
  vault_id uuid;
  sealed bytea;
  cipher text;
begin
  select x.vault_secret_id into vault_id from collab.workflow_webhook_secrets x
   where x.workflow_id = _store_webhook_secret.workflow_id for update;
  if vault_id is not null then
    execute 'select vault.update_secret($1, $2)' using vault_id, secret;
  elsif collab_private._vault_present() then
    execute 'select vault.create_secret($1, $2, $3)' into vault_id
      using secret, 'collab.webhook.' || workflow_id || '.' || gen_random_uuid(),
            format('collab webhook secret of workflow %s', workflow_id);
  else
    cipher := case when exists (select 1 from pg_catalog.pg_extension where extname = 'pgcrypto')
                   then 'pgp' else 'hmac-ctr' end;
    sealed := collab_private._webhook_cipher(true, convert_to(secret, 'UTF8'), cipher);
  end if;
  insert into collab.workflow_webhook_secrets as x (workflow_id, executor_id, vault_secret_id, secret_encrypted,
                                                    cipher, fingerprint)
  values (_store_webhook_secret.workflow_id, _store_webhook_secret.executor_id, vault_id, sealed, cipher,
          fingerprint)
  on conflict on constraint workflow_webhook_secrets_pkey do update
     set vault_secret_id = excluded.vault_secret_id, secret_encrypted = excluded.secret_encrypted,
         cipher = excluded.cipher, fingerprint = excluded.fingerprint, created_at = now();
end
$$;

-- The secret of a workflow's webhook, decrypted (null when it has none).
create function collab._webhook_secret(workflow_id uuid) returns text
  language plpgsql security definer set search_path = ''
as $$
declare
  x collab.workflow_webhook_secrets;
  clear text;
begin
  select * into x from collab.workflow_webhook_secrets s where s.workflow_id = _webhook_secret.workflow_id;
  if not found then
    return null;
  end if;
  if x.vault_secret_id is not null then
    execute 'select decrypted_secret from vault.decrypted_secrets where id = $1' into clear using x.vault_secret_id;
    return clear;
  end if;
  return convert_from(collab_private._webhook_cipher(false, x.secret_encrypted, x.cipher), 'UTF8');
end
$$;

-- A webhook's Vault secret goes with its row (deleted webhook or workflow).
create function collab._webhook_secrets_after_delete() returns trigger
  language plpgsql security definer set search_path = ''
as $$
begin
  if old.vault_secret_id is not null then
    execute 'delete from vault.secrets where id = $1' using old.vault_secret_id;
  end if;
  return null;
end
$$;

revoke all on function collab._store_webhook_secret(uuid, text, text), collab._webhook_secret(uuid),
                       collab._webhook_secrets_after_delete()
  from public, anon, authenticated, service_role;

-- The secrets made before this migration are moved, then the clear column is dropped.
alter table collab.workflow_webhook_secrets
  add column vault_secret_id uuid,
  add column secret_encrypted bytea,
  add column cipher text check (cipher in ('pgp', 'hmac-ctr')),
  alter column secret drop not null;
do $$
declare
  s record;
begin
  for s in select x.workflow_id, x.executor_id, x.secret from collab.workflow_webhook_secrets x loop
    perform collab._store_webhook_secret(s.workflow_id, s.executor_id, s.secret);
  end loop;
end
$$;
alter table collab.workflow_webhook_secrets
  drop column secret,
  add constraint workflow_webhook_secrets_stored
    check ((vault_secret_id is not null and secret_encrypted is null and cipher is null)
           or (vault_secret_id is null and secret_encrypted is not null and cipher is not null));
comment on table collab.workflow_webhook_secrets is
  'Per-workflow webhook secrets, never in clear: a Supabase Vault id, or ciphertext (cipher pgp: pgcrypto; hmac-ctr: built in) under collab_private.secret_keys; read by SECURITY DEFINER functions only';

create trigger webhook_secrets_after_delete after delete on collab.workflow_webhook_secrets
  for each row when (old.vault_secret_id is not null)
  execute function collab._webhook_secrets_after_delete();

-- Create (or rotate) the webhook secret of a workflow; returned this once (as before).
create or replace function collab.create_webhook_secret_v1(workflow_id uuid)
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
  perform collab._store_webhook_secret(w.id, w.executor_id, s);
  return (select jsonb_build_object('workflow_id', x.workflow_id, 'secret', s,
                                    'fingerprint', x.fingerprint, 'created_at', x.created_at)
            from collab.workflow_webhook_secrets x where x.workflow_id = w.id);
end
$$;

-- As in 20261201000800, with the secret decrypted for the check.
create or replace function collab.webhook_start_run_v1(workflow_id uuid, body text, signature text,
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
  provided := collab._webhook_secret(webhook_start_run_v1.workflow_id);
  if provided is null then
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
