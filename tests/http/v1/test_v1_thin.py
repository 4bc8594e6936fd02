"""Routes stay thin (the seed's rule): every route function of ``collab_sdk.http.v1``
(each handler a ``Route`` or ``SocketRoute`` of its tables names) is at most 20 lines and
holds no SQL — no SQL keywords in its strings, no ``execute``/``sql``/raw RPC calls: it
calls ``call.client``. The checker is tested on functions that break each rule."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from collab_sdk.http.v1.routes import ROOT, RUN_SOCKETS, WORKFLOW_API

MAX_LINES = 20
_SQL = re.compile(r"\b(select\s.+\sfrom|insert\s+into|update\s+\S+\s+set|delete\s+from|"
                  r"create\s+(table|function)|with\s+\w+\s+as\s*\()", re.IGNORECASE | re.DOTALL)
_RAW_CALLS = {"execute", "executemany", "sql", "fetch", "fetchrow", "cursor"}


def problems(source: str) -> list[str]:
    """What makes the function in ``source`` not thin."""
    tree = ast.parse(textwrap.dedent(source))
    fn = tree.body[0]
    assert isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
    found = []
    length = (fn.end_lineno or fn.lineno) - fn.lineno + 1
    if length > MAX_LINES:
        found.append(f"{fn.name} is {length} lines (at most {MAX_LINES})")
    for node in ast.walk(fn):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _SQL.search(node.value):
            found.append(f"{fn.name} holds SQL: {node.value[:40]!r}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in _RAW_CALLS or (node.func.attr == "call" and _attr_chain(node.func).endswith("rpc.call")):
                found.append(f"{fn.name} calls {_attr_chain(node.func)}() directly")
    return found


def _attr_chain(node: ast.expr) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def route_functions() -> list[Callable[..., Any]]:
    tables = (WORKFLOW_API, RUN_SOCKETS, ROOT)
    handlers = [r.handler for t in tables for r in t.routes] + [s.handler for t in tables for s in t.sockets]
    return list({id(h): h for h in handlers}.values())


def test_there_are_route_functions_to_check() -> None:
    names = {fn.__name__ for fn in route_functions()}
    assert len(names) >= 20 and {"create_workflow", "start_run", "run_socket"} <= names


@pytest.mark.parametrize("fn", route_functions(), ids=lambda fn: fn.__name__)
def test_every_route_function_is_thin(fn: Callable[..., Any]) -> None:
    assert problems(inspect.getsource(fn)) == []


def test_the_checker_finds_long_functions_sql_and_raw_calls() -> None:
    long = "async def f(call):\n" + "".join(f"    x{i} = {i}\n" for i in range(MAX_LINES))
    assert problems(long) == [f"f is {MAX_LINES + 1} lines (at most {MAX_LINES})"]
    assert problems(long.replace(f"    x{MAX_LINES - 1} = {MAX_LINES - 1}\n", "")) == []
    sql = 'async def g(call):\n    return await call.client.rpc.call("x", q="SELECT * FROM collab.jobs")\n'
    assert sorted(problems(sql)) == ["g calls call.client.rpc.call() directly", "g holds SQL: 'SELECT * FROM collab.jobs'"]
    raw = "async def h(conn):\n    await conn.execute(q)\n"
    assert problems(raw) == ["h calls conn.execute() directly"]
    assert problems('async def k(call):\n    """Update a draft: set its name from the body."""\n') == []
