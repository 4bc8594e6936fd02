"""Every foreign key leads an index on its referencing columns: deleting a referenced row
(a purge, ``delete_job_v1``, retention) looks its referencing rows up with one query per
deleted row, and without an index each of those reads the whole table (purging 45,000
jobs took 185 s with ``job_dead_letters.retried_job_id`` unindexed)."""

from __future__ import annotations

import re
import uuid

from support import Caller

# Each foreign key of the collab schemas with the indexes of its table: their leading
# columns and their predicate (a partial index serves the lookup `col = $1` only if its
# predicate is implied by it: `col IS NOT NULL`).
FOREIGN_KEYS = """
select c.conname as name, c.conrelid::regclass::text as "table",
       array(select a.attname::text from unnest(c.conkey) with ordinality k(attnum, ord)
               join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum
              order by k.ord) as columns,
       coalesce((select jsonb_agg(jsonb_build_object(
                   'name', i.indexrelid::regclass::text,
                   'leading', array(select a.attname::text
                                      from unnest((i.indkey::int2[])[0:cardinality(c.conkey) - 1]) as k(attnum)
                                      join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum),
                   'predicate', pg_get_expr(i.indpred, i.indrelid)))
                   from pg_index i where i.indrelid = c.conrelid and i.indisvalid), '[]'::jsonb) as indexes
  from pg_constraint c
 where c.contype = 'f' and c.connamespace::regnamespace::text in ('collab', 'collab_private')
"""


def _serves(index: dict, columns: list[str]) -> bool:
    if sorted(index["leading"]) != sorted(columns):
        return False
    predicate = index["predicate"]
    if predicate is None:
        return True
    # Only conjunctions of "<fk column> IS NOT NULL".
    terms = re.split(r"\s+AND\s+", predicate.strip("() "))
    return all(re.fullmatch(r"\(*(\w+) IS NOT NULL\)*", t) and
               re.fullmatch(r"\(*(\w+) IS NOT NULL\)*", t).group(1) in columns for t in terms)


def unindexed_foreign_keys(owner: Caller) -> list[str]:
    """``table.constraint (columns)`` of every foreign key no index serves."""
    return sorted(f"{fk['table']}.{fk['name']} ({', '.join(fk['columns'])})"
                  for fk in owner.sql(FOREIGN_KEYS)
                  if not any(_serves(index, fk["columns"]) for index in fk["indexes"]))


def test_every_foreign_key_has_a_supporting_index(owner: Caller) -> None:
    assert owner.sql(FOREIGN_KEYS), "the query found no foreign key at all"
    assert unindexed_foreign_keys(owner) == []


def test_the_check_reports_an_unindexed_foreign_key(owner: Caller) -> None:
    owner.sql("create table collab.bad_refs (id int, job_id uuid references collab.jobs (id) on delete cascade);"
              "create table collab.bad_partial (job_id uuid references collab.jobs (id));"
              "create index on collab.bad_partial (job_id) where job_id > '00000000-0000-0000-0000-000000000000'")
    assert unindexed_foreign_keys(owner) == ["collab.bad_partial.bad_partial_job_id_fkey (job_id)",
                                             "collab.bad_refs.bad_refs_job_id_fkey (job_id)"]
    owner.sql("create index on collab.bad_refs (job_id, id)")
    assert unindexed_foreign_keys(owner) == ["collab.bad_partial.bad_partial_job_id_fkey (job_id)"]


def test_retried_job_id_is_indexed_and_the_set_null_uses_it(owner: Caller) -> None:
    owner.conn.execute("set enable_seqscan = off")  # an empty table: the plan must still find the index
    plan = owner.sql("explain (format json) update collab.job_dead_letters set retried_job_id = null"
                     " where retried_job_id = %s", (uuid.uuid4(),))[0]["QUERY PLAN"]
    assert "job_dead_letters_retried_job_idx" in str(plan)
