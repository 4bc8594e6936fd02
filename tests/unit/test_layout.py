"""The package's shape: no import cycles, and each role package imports only what its
docstring allows (docs/design.md, "Layout"). Read from the source with ``ast``, so a
cycle or a forbidden import fails here before it fails at run time."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from support import REPO

PACKAGE = REPO / "src" / "collab_sdk"

#: Which collab_sdk packages each role package may import (besides itself and the
#: top-level vocabulary modules: errors, models, states, timing, availability, exits, logs, metrics,
#: tracing).
ALLOWED: dict[str, set[str]] = {
    "auth": set(),
    "transports": set(),
    "local": {"transports"},
    "workflows": set(),
    "client": {"transports", "local", "workflows"},
    "worker": {"client", "transports", "workflows"},
    "http": {"client", "transports", "local", "auth", "workflows"},
    "cli": {"client", "transports", "local", "auth", "worker", "http", "workflows"},
    "testing": {"client", "worker", "local", "transports"},
}
VOCABULARY = {"errors", "models", "states", "timing", "availability", "exits", "logs", "metrics", "tracing"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported(path: Path, known: Mapping[str, Path]) -> Iterator[str]:
    """The collab_sdk modules ``path`` imports: at module level, inside functions and
    under ``TYPE_CHECKING`` alike (a cycle only for the type checker is still one)."""
    this = module_name(path)
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = this.split(".") if is_package else this.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target.startswith("collab_sdk") and target != this:
                yield target


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(imported(path, known)) for name, path in known.items()}


def find_cycle(edges: Mapping[str, set[str]]) -> list[str] | None:
    """One import cycle of ``edges`` (as a path back to its start), or None."""
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_import_reader_sees_function_level_and_type_checking_imports(tmp_path: Path) -> None:
    source = PACKAGE / "transports" / "base.py"
    found = set(imported(source, modules()))
    assert "collab_sdk.transports.supabase.session" in found  # under TYPE_CHECKING


def test_no_import_cycles() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _role(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_role_package_imports_only_what_it_may(package: str) -> None:
    allowed = ALLOWED[package] | VOCABULARY | {package}
    bad = sorted(f"{module} imports {target}" for module, targets in graph().items()
                 if _role(module) == package for target in targets
                 if _role(target) and _role(target) not in allowed)
    assert not bad, "\n".join(bad)


def test_vocabulary_modules_import_no_role_package() -> None:
    bad = sorted(f"{module} imports {target}" for module, targets in graph().items()
                 if _role(module) in VOCABULARY for target in targets
                 if _role(target) not in VOCABULARY)
    assert not bad, "\n".join(bad)
