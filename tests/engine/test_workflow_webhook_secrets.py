"""Webhook secrets are never stored in clear: in Supabase Vault when it is there (a
stand-in of its SQL interface here), else encrypted under collab's own key (pgcrypto
where the server has it, the built-in HMAC-SHA256 scheme where it does not, as on the
embedded server) — and signatures check out through every kind of storage, including
secrets made before the migration that encrypted them."""

from __future__ import annotations

import hashlib
import hmac
import json
import tempfile
from pathlib import Path
from typing import Any

import psycopg
import pytest

from collab_sdk.local.embedded import EmbeddedPostgres
from collab_sdk.local.migrate import load_migrations, migrate
from collab_sdk.local.paths import compat_sql_path
from support import Caller, empty_database
from workflow_support import DIAMOND, published, sqlstate

ENCRYPTING = "20261202050200"
PG15 = Path("/usr/lib/postgresql/15/bin")

# The part of Supabase Vault's SQL interface collab uses. (Vault itself encrypts
# `secret` with a key outside the database; the stand-in only keeps it apart.)
VAULT_STANDIN = """
create schema vault;
create table vault.secrets (id uuid primary key default gen_random_uuid(), name text unique,
                            description text not null default '', secret text not null,
                            key_id uuid, updated_at timestamptz not null default now());
create view vault.decrypted_secrets as
  select id, name, description, secret, secret as decrypted_secret, key_id, updated_at from vault.secrets;
create function vault.create_secret(new_secret text, new_name text default null, new_description text default '',
                                    new_key_id uuid default null) returns uuid
  language sql as $$ insert into vault.secrets (secret, name, description, key_id)
                     values (new_secret, new_name, new_description, new_key_id) returning id $$;
create function vault.update_secret(secret_id uuid, new_secret text default null, new_name text default null,
                                    new_description text default null, new_key_id uuid default null) returns void
  language sql as $$ update vault.secrets set secret = coalesce(new_secret, secret), updated_at = now()
                     where id = secret_id $$;
"""


def _sign(secret: str, body: str) -> str:
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()


def _stored(owner: Caller) -> list[dict[str, Any]]:
    return owner.sql("select *, t::text as whole from collab.workflow_webhook_secrets t")


def _deliver(caller: Caller, workflow_id: Any, secret: str, n: int) -> dict[str, Any]:
    body = json.dumps({"n": n})
    return caller.value("webhook_start_run_v1", workflow_id=workflow_id, body=body,
                        signature=_sign(secret, body), delivery_id=f"d-{n}")


def _assert_not_in_clear(owner: Caller, secret: str) -> None:
    """No column of the secrets table, nor the whole row as text, holds the secret or
    its hex digits (nor the key table's row, the key being apart from it)."""
    for row in _stored(owner):
        assert secret not in row["whole"] and secret[6:] not in row["whole"]
        sealed = bytes(row["secret_encrypted"] or b"")
        assert secret.encode() not in sealed and bytes.fromhex(secret[6:]) not in sealed
        assert "secret" not in row  # the clear column is gone


def test_the_table_never_holds_the_secret_and_deliveries_still_verify(owner: Caller, service: Caller) -> None:
    wf = published(owner, DIAMOND)
    first = owner.value("create_webhook_secret_v1", workflow_id=wf["id"])["secret"]
    [row] = _stored(owner)
    pgcrypto = bool(owner.sql("select 1 from pg_extension where extname = 'pgcrypto'"))
    assert (row["vault_secret_id"], row["cipher"]) == (None, "pgp" if pgcrypto else "hmac-ctr")
    _assert_not_in_clear(owner, first)
    assert _deliver(service, wf["id"], first, 1)["created"] is True

    rotated = owner.value("create_webhook_secret_v1", workflow_id=wf["id"])["secret"]
    [again] = _stored(owner)
    assert bytes(again["secret_encrypted"]) != bytes(row["secret_encrypted"])
    _assert_not_in_clear(owner, rotated)
    assert _deliver(service, wf["id"], rotated, 2)["created"] is True
    with sqlstate("CL403", "does not match"):
        _deliver(service, wf["id"], first, 3)  # the old secret no longer signs


def test_the_same_secret_encrypts_differently_each_time(owner: Caller) -> None:
    """A random nonce per encryption: two workflows never share ciphertext."""
    sealed = {bytes(r["s"]) for r in owner.sql(
        "select collab_private._webhook_cipher(true, convert_to('whsec_x', 'UTF8'), c) as s"
        "  from unnest(array['hmac-ctr', 'hmac-ctr']) as c")}
    assert len(sealed) == 2
    [back] = owner.sql("select convert_from(collab_private._webhook_cipher(false,"
                       " collab_private._webhook_cipher(true, convert_to('whsec_x', 'UTF8'), 'hmac-ctr'),"
                       " 'hmac-ctr'), 'UTF8') as s")
    assert back["s"] == "whsec_x"


def test_a_tampered_ciphertext_is_refused_and_starts_nothing(owner: Caller, service: Caller) -> None:
    wf = published(owner, DIAMOND)
    secret = owner.value("create_webhook_secret_v1", workflow_id=wf["id"])["secret"]
    owner.sql("update collab.workflow_webhook_secrets"
              "   set secret_encrypted = set_byte(secret_encrypted, 20, get_byte(secret_encrypted, 20) # 1)")
    with pytest.raises(psycopg.Error):
        _deliver(service, wf["id"], secret, 1)
    assert owner.sql("select count(*) as n from collab.workflow_runs")[0]["n"] == 0


def test_nobody_but_the_owner_reads_the_key(owner: Caller, service: Caller, make_user) -> None:
    member = make_user({"ex": "admin"})
    for caller in (service, member):
        with sqlstate("42501", "permission denied"):
            caller.sql("select * from collab_private.secret_keys")
        with sqlstate("42501", "permission denied"):
            caller.sql("select collab._webhook_secret(gen_random_uuid())")
    [key] = owner.sql("select key from collab_private.secret_keys where name = 'webhook'")
    assert len(bytes.fromhex(key["key"])) == 32


def test_with_vault_the_secret_lives_in_vault_only(owner: Caller, service: Caller) -> None:
    owner.sql(VAULT_STANDIN)
    wf = published(owner, DIAMOND)
    secret = owner.value("create_webhook_secret_v1", workflow_id=wf["id"])["secret"]
    [row] = _stored(owner)
    assert row["vault_secret_id"] is not None and row["secret_encrypted"] is None and row["cipher"] is None
    _assert_not_in_clear(owner, secret)
    [kept] = owner.sql("select * from vault.secrets")
    assert (kept["id"], kept["secret"]) == (row["vault_secret_id"], secret)
    assert _deliver(service, wf["id"], secret, 1)["created"] is True

    rotated = owner.value("create_webhook_secret_v1", workflow_id=wf["id"])["secret"]
    assert [(r["id"], r["secret"]) for r in owner.sql("select * from vault.secrets")] == \
        [(row["vault_secret_id"], rotated)]  # rotated in place
    assert _deliver(service, wf["id"], rotated, 2)["created"] is True
    owner.rpc("delete_webhook_secret_v1", workflow_id=wf["id"])
    assert owner.sql("select count(*) as n from vault.secrets")[0]["n"] == 0


def test_secrets_made_before_the_migration_are_encrypted_by_it(server_url: str) -> None:
    url = empty_database(server_url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(compat_sql_path().read_text())
        for m in load_migrations():
            if m.version < ENCRYPTING:
                conn.execute(m.sql)
    owner = Caller(url)
    try:
        wf = published(owner, DIAMOND)
        secret = owner.value("create_webhook_secret_v1", workflow_id=wf["id"])["secret"]
        assert owner.sql("select secret from collab.workflow_webhook_secrets")[0]["secret"] == secret
        with psycopg.connect(url, autocommit=True) as conn:
            for m in load_migrations():
                if m.version >= ENCRYPTING:
                    conn.execute(m.sql)
        _assert_not_in_clear(owner, secret)
        assert _deliver(owner, wf["id"], secret, 1)["created"] is True
    finally:
        owner.close()


def test_pgcrypto_encrypts_where_the_server_has_it() -> None:
    """PostgreSQL 15 from Debian ships pgcrypto: the migration creates it and secrets are
    pgp_sym_encrypt ciphertext."""
    if not (PG15 / "postgres").exists() or not Path("/usr/share/postgresql/15/extension/pgcrypto.control").exists():
        pytest.skip(f"needs PostgreSQL 15 at {PG15} with pgcrypto; ./dev test installs postgresql-15 with apt")
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="collab-pgcrypto-")) / "pg15", bin_dir=PG15,
                              settings={"fsync": "off"})
    url = server.start()
    try:
        migrate(url)
        owner = Caller(url)
        try:
            wf = published(owner, DIAMOND)
            secret = owner.value("create_webhook_secret_v1", workflow_id=wf["id"])["secret"]
            [row] = _stored(owner)
            assert row["cipher"] == "pgp"
            _assert_not_in_clear(owner, secret)
            [clear] = owner.sql("select convert_from(pgp_sym_decrypt_bytea(secret_encrypted, k.key), 'UTF8') as s"
                                "  from collab.workflow_webhook_secrets, collab_private.secret_keys k")
            assert clear["s"] == secret  # real OpenPGP ciphertext under the key kept apart
            assert _deliver(owner, wf["id"], secret, 1)["created"] is True
        finally:
            owner.close()
    finally:
        server.destroy()
