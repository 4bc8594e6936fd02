"""The migrated schema as comparable text, empty databases, the migration history."""

from __future__ import annotations

import uuid

import psycopg
from psycopg import sql

from support.callers import database_url

__all__ = ["FINGERPRINT", "schema_fingerprint", "empty_database", "migration_history"]

# Everything the migrations define in schema collab, as comparable text.
FINGERPRINT = """
select 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') || case when a.attnotnull then ' not null' else '' end
  from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
  left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
 where n.nspname = 'collab' and a.attnum > 0 and not a.attisdropped and c.relkind in ('r', 'v')
union all
select 'index ' || pg_get_indexdef(i.indexrelid) from pg_index i join pg_class c on c.oid = i.indrelid
  join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'collab'
union all
select 'constraint ' || conrelid::regclass || ' ' || pg_get_constraintdef(oid) from pg_constraint
 where connamespace = 'collab'::regnamespace
union all
select 'function ' || pg_get_functiondef(p.oid) || ' acl ' || coalesce(p.proacl::text, 'default')
  from pg_proc p where p.pronamespace = 'collab'::regnamespace
union all
select 'policy ' || tablename || ' ' || policyname || ' ' || cmd || ' ' || roles::text || ' ' || coalesce(qual, '')
  from pg_policies where schemaname = 'collab'
union all
select 'trigger ' || pg_get_triggerdef(t.oid) from pg_trigger t join pg_class c on c.oid = t.tgrelid
 where c.relnamespace = 'collab'::regnamespace and not t.tgisinternal
union all
select 'table ' || c.relname || ' rls=' || c.relrowsecurity || ' acl ' || coalesce(c.relacl::text, '')
  from pg_class c where c.relnamespace = 'collab'::regnamespace and c.relkind = 'r'
union all
select 'publication ' || pubname || ' ' || schemaname || '.' || tablename from pg_publication_tables
 where schemaname = 'collab'
order by 1
"""


def schema_fingerprint(url: str) -> list[str]:
    """Every object the migrations define in schema collab, one sorted line each."""
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute(FINGERPRINT).fetchall()]


def empty_database(server_url: str) -> str:
    """A new, empty database on the test server (not migrated); its URL."""
    name = f"collab_empty_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return database_url(server_url, name)


def migration_history(url: str) -> list[tuple[str, str, int]]:
    """(version, name, number of statements) recorded in the supabase CLI's history table."""
    with psycopg.connect(url) as conn:
        return conn.execute("select version, name, cardinality(statements)"
                            " from supabase_migrations.schema_migrations order by version").fetchall()
