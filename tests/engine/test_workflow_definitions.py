"""Workflow definitions in SQL: create/update/publish/duplicate/archive/delete, the
validation's errors, and the step catalog."""

from __future__ import annotations

from typing import Any

import pytest

from support import Caller
from workflow_support import DIAMOND, EXECUTOR, chain, published, register, sqlstate


def _errors(caller: Caller, definition: Any) -> list[str]:
    return caller.value("validate_definition_v1", executor_id=EXECUTOR, definition=definition)["errors"]


@pytest.fixture
def catalog(owner: Caller) -> Caller:
    register(owner, "t.step", "t.other")
    return owner


def test_a_valid_diamond_has_no_errors(catalog: Caller) -> None:
    assert catalog.value("validate_definition_v1", executor_id=EXECUTOR, definition=DIAMOND) == \
        {"valid": True, "errors": []}


@pytest.mark.parametrize("definition, errors", [
    ({"nodes": [], "edges": []}, ["the workflow has no nodes: add at least one step"]),
    ({"edges": []}, ["the workflow has no nodes: add at least one step"]),
    ([], ['definition must be a JSON object {"nodes": [...], "edges": [...]}']),
    ({"nodes": {}}, ["nodes must be a JSON array"]),
    (chain(("a", "t.step"), ("b", "t.step"), ("c", "t.step"))
     | {"edges": [{"id": "1", "source": "a", "target": "b"}, {"id": "2", "source": "b", "target": "c"},
                  {"id": "3", "source": "c", "target": "a"}]},
     ["cycle: a -> b -> c -> a"]),
    ({"nodes": [{"id": "a", "type": "t.step"}], "edges": [{"id": "self", "source": "a", "target": "a"}]},
     ["cycle: a -> a"]),
    ({"nodes": [{"id": "a", "type": "t.step"}], "edges": [{"id": "e1", "source": "a", "target": "ghost"}]},
     ['edge "e1": target "ghost" is not a node']),
    ({"nodes": [{"id": "a", "type": "t.step"}], "edges": [{"id": "e1", "target": "a"}]},
     ['edge "e1": source is missing and is not a node']),
    ({"nodes": [{"id": "a", "type": "t.step"}, {"id": "b", "type": "t.step"}, {"id": "a", "type": "t.other"}]},
     ['duplicate node id "a" (nodes[0], nodes[2])']),
    ({"nodes": [{"id": "a", "type": "t.step"}, {"id": "b", "type": "t.step"}],
      "edges": [{"id": "e", "source": "a", "target": "b"}, {"id": "e", "source": "a", "target": "b"}]},
     ['duplicate edge id "e" (edges[0], edges[1])']),
    ({"nodes": [{"id": "a", "type": "http.fetch"}]},
     ['node "a": unknown step type "http.fetch" (not in the catalog of executor ex)']),
    ({"nodes": [{"id": "a b", "type": "t.step"}]},
     ['nodes[0]: id must be a string of 1-100 characters: letters, digits and _ . : @ / + - (got "a b")']),
    ({"nodes": [{"id": "a", "type": "t.step", "data": {"max_attempts": 0}}]},
     ['node "a": data.max_attempts must be an integer between 1 and 1000']),
    ({"nodes": [{"id": f"n{i}", "type": "t.step"} for i in range(201)]},
     ["the workflow has 201 nodes; at most 200 are allowed"]),
])
def test_each_invalid_definition_gets_a_precise_error(catalog: Caller, definition: Any, errors: list[str]) -> None:
    assert _errors(catalog, definition) == errors


def test_several_problems_are_all_reported(catalog: Caller) -> None:
    definition = {"nodes": [{"id": "a", "type": "nope"}, {"id": "b", "type": "t.step"}],
                  "edges": [{"id": "x", "source": "a", "target": "b"}, {"id": "y", "source": "b", "target": "a"},
                            {"id": "z", "source": "b", "target": "q"}]}
    assert _errors(catalog, definition) == [
        'edge "z": target "q" is not a node', "cycle: a -> b -> a",
        'node "a": unknown step type "nope" (not in the catalog of executor ex)']


def test_builtin_approval_is_in_every_catalog(owner: Caller) -> None:
    names = {(s["executor_id"], s["name"], s["kind"]) for s in owner.rpc("step_types_v1", executor_id="any")}
    assert names == {("*", "approval", "approval")}
    assert _errors(owner, {"nodes": [{"id": "ok", "type": "approval"}]}) == []


def test_registering_step_types_is_an_upsert(owner: Caller) -> None:
    owner.rpc("register_step_types_v1", executor_id=EXECUTOR, step_types=[
        {"name": "http.fetch", "title": "Fetch", "category": "http", "config_schema": {"type": "object"}}])
    again = owner.rpc("register_step_types_v1", executor_id=EXECUTOR, step_types=[
        {"name": "http.fetch", "title": "Fetch a URL", "category": "http"}])
    assert [(s["name"], s["title"], s["kind"], s["config_schema"]) for s in again] == \
        [("http.fetch", "Fetch a URL", "job", None)]
    catalog = owner.rpc("step_types_v1", executor_id=EXECUTOR)
    assert [(s["executor_id"], s["name"]) for s in catalog] == [("*", "approval"), ("ex", "http.fetch")]
    with sqlstate("CL409", "step_types[0]: approval is a built-in step type"):
        owner.rpc("register_step_types_v1", executor_id=EXECUTOR, step_types=[{"name": "approval"}])
    with sqlstate("CL400", "step_types[1]: name must be"):
        owner.rpc("register_step_types_v1", executor_id=EXECUTOR, step_types=[{"name": "ok"}, {"name": " bad"}])


def test_draft_lifecycle_publish_freezes(catalog: Caller) -> None:
    wf = catalog.one("create_workflow_v1", executor_id=EXECUTOR, name=" flow ", definition={"nodes": []})
    assert (wf["name"], wf["status"], wf["version"]) == ("flow", "draft", 1)
    with sqlstate("CL400", "cannot publish workflow") as info:
        catalog.rpc("publish_workflow_v1", workflow_id=wf["id"])
    assert "the workflow has no nodes" in str(info.value)
    assert info.value.diag.message_detail == '["the workflow has no nodes: add at least one step"]'
    updated = catalog.one("update_workflow_v1", workflow_id=wf["id"], definition=DIAMOND, description="d")
    assert (updated["definition"], updated["description"], updated["name"]) == (DIAMOND, "d", "flow")
    pub = catalog.one("publish_workflow_v1", workflow_id=wf["id"])
    assert pub["status"] == "published" and pub["published_at"] is not None
    assert catalog.one("publish_workflow_v1", workflow_id=wf["id"])["published_at"] == pub["published_at"]
    with sqlstate("CL412", "cannot update workflow") as info:
        catalog.rpc("update_workflow_v1", workflow_id=wf["id"], name="renamed")
    assert "a published definition is frozen" in str(info.value)
    with sqlstate("CL412", "cannot delete workflow"):
        catalog.rpc("delete_workflow_v1", workflow_id=wf["id"])
    assert catalog.one("get_workflow_v1", workflow_id=wf["id"])["definition"] == DIAMOND

    copy = catalog.one("duplicate_workflow_v1", workflow_id=wf["id"])
    assert (copy["status"], copy["version"], copy["parent_id"], copy["definition"]) == \
        ("draft", 2, wf["id"], DIAMOND)
    assert catalog.one("update_workflow_v1", workflow_id=copy["id"], name="v2")["name"] == "v2"
    assert catalog.one("delete_workflow_v1", workflow_id=copy["id"])["id"] == copy["id"]
    with sqlstate("CL404", "not found"):
        catalog.rpc("get_workflow_v1", workflow_id=copy["id"])

    archived = catalog.one("archive_workflow_v1", workflow_id=wf["id"])
    assert archived["status"] == "archived"
    with sqlstate("CL412", "cannot start workflow"):
        catalog.rpc("start_run_v1", workflow_id=wf["id"])
    assert catalog.one("delete_workflow_v1", workflow_id=wf["id"])["status"] == "archived"  # no runs


def test_archived_workflow_with_runs_is_kept(catalog: Caller) -> None:
    wf = published(catalog, chain(("a", "t.step")))
    catalog.value("start_run_v1", workflow_id=wf["id"])
    catalog.rpc("archive_workflow_v1", workflow_id=wf["id"])
    with sqlstate("CL412", "it has runs"):
        catalog.rpc("delete_workflow_v1", workflow_id=wf["id"])


def test_validate_workflow_reads_the_saved_definition(catalog: Caller) -> None:
    wf = catalog.one("create_workflow_v1", executor_id=EXECUTOR, name="w",
                     definition={"nodes": [{"id": "a", "type": "missing"}]})
    assert catalog.value("validate_workflow_v1", workflow_id=wf["id"]) == {
        "valid": False, "errors": ['node "a": unknown step type "missing" (not in the catalog of executor ex)']}


def test_workflows_list_pages_newest_first(catalog: Caller) -> None:
    ids = [catalog.one("create_workflow_v1", executor_id=EXECUTOR, name=f"w{i}")["id"] for i in range(5)]
    catalog.rpc("create_workflow_v1", executor_id="other", name="elsewhere")
    first = catalog.value("workflows_v1", executor_id=EXECUTOR, page_size=3)
    assert [w["id"] for w in first["items"]] == [str(i) for i in reversed(ids[2:])] and first["count"] == 3
    second = catalog.value("workflows_v1", executor_id=EXECUTOR, page_size=3, cursor=first["nextCursor"])
    assert [w["id"] for w in second["items"]] == [str(i) for i in reversed(ids[:2])]
    assert second["nextCursor"] is None
    assert catalog.value("workflows_v1", status="published")["count"] == 0


def test_input_fields_are_checked(catalog: Caller) -> None:
    with sqlstate("CL400", "name must be 1-200 characters"):
        catalog.rpc("create_workflow_v1", executor_id=EXECUTOR, name="")
    with sqlstate("CL400", "definition must be a JSON object"):
        catalog.rpc("create_workflow_v1", executor_id=EXECUTOR, name="x", definition=[1])
    with sqlstate("CL413", "definition is larger than 262144 bytes"):
        catalog.rpc("create_workflow_v1", executor_id=EXECUTOR, name="x", definition={"pad": "x" * 300000})
