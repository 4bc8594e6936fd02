"""The workflow endpoints (D5) and the catalog (D8) through the real app over a real
database: list (empty, with data, by status, paged), create (executor rules,
idempotency), get (found, not found), update a draft (a published one is frozen), delete
(a draft; a published one is 400), publish (valid; invalid with the engine's errors),
validate, duplicate (version + 1)."""

from __future__ import annotations

import uuid

from http_support import Api, assert_error
from v1_support import V1, burst, chain, create, node, ok, published, put, register


def test_list_is_empty_then_has_the_workflows_newest_first_and_by_status(api: Api) -> None:
    assert ok(api.get(f"{V1}/workflows")) == {"items": [], "count": 0, "next_cursor": None}
    register(api)
    draft = create(api, name="draft")
    live = published(api, name="live")
    page = ok(api.get(f"{V1}/workflows"))
    assert [w["id"] for w in page["items"]] == [live["id"], draft["id"]] and page["count"] == 2
    assert [w["id"] for w in ok(api.get(f"{V1}/workflows?status=published"))["items"]] == [live["id"]]
    assert [w["id"] for w in ok(api.get(f"{V1}/workflows?status=draft"))["items"]] == [draft["id"]]
    first = ok(api.get(f"{V1}/workflows?page_size=1"))
    assert first["count"] == 1 and first["next_cursor"]
    second = ok(api.get(f"{V1}/workflows", params={"page_size": 1, "cursor": first["next_cursor"]}))
    assert [w["id"] for w in second["items"]] == [draft["id"]] and second["next_cursor"] is None
    assert_error(api.get(f"{V1}/workflows?status=bogus"), 400, "invalid_query")


def test_create_answers_the_seed_shape_in_snake_case(api: Api) -> None:
    made = create(api, chain(node("a")), name="  Fetch  ", description="d",
                  input_schema={"type": "object"})
    assert set(made) >= {"id", "name", "description", "version", "status", "definition",
                         "input_schema", "created_at", "updated_at", "executor_id"}
    assert made["name"] == "Fetch" and made["version"] == 1 and made["status"] == "draft"
    assert made["executor_id"] == "default"  # the service role without executor_id
    assert made["definition"]["nodes"][0]["id"] == "a" and made["input_schema"] == {"type": "object"}
    bare = create(api)  # the seed's defaults
    assert bare["definition"] == {"nodes": [], "edges": []} and bare["description"] == ""
    assert_error(api.post(f"{V1}/workflows", {"name": ""}), 422, "invalid_body")
    assert_error(api.post(f"{V1}/workflows", {"name": "x", "nme": 1}), 422, "invalid_body")


def test_executor_id_omitted_is_the_users_only_executor_else_422(api: Api) -> None:
    one = api.user({"team-a": "client"})
    assert create(api, token=one)["executor_id"] == "team-a"
    two = api.user({"team-a": "client", "team-b": "client"})
    assert_error(api.post(f"{V1}/workflows", {"name": "x"}, two), 422, "executor_required")
    assert create(api, token=two, executor_id="team-b")["executor_id"] == "team-b"
    none = api.user({})
    assert_error(api.post(f"{V1}/workflows", {"name": "x"}, none), 422, "executor_required")
    assert_error(api.post(f"{V1}/workflows", {"name": "x", "executor_id": "team-a"}, none), 403, "forbidden")


def test_create_is_idempotent_by_header_also_concurrently(api: Api) -> None:
    headers = {"X-Idempotency-Key": "create-1"}
    first = api.post(f"{V1}/workflows", {"name": "once"}, headers=headers)
    again = api.post(f"{V1}/workflows", {"name": "once"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert_error(api.post(f"{V1}/workflows", {"name": "other"}, headers=headers), 409, "conflict")

    burst(api, f"{V1}/workflows", {"name": "race"}, "race")
    assert ok(api.get(f"{V1}/workflows"))["count"] == 2


def test_get_found_and_not_found(api: Api) -> None:
    made = create(api, chain(node("a")))
    got = ok(api.get(f"{V1}/workflows/{made['id']}"))
    assert got == made
    assert_error(api.get(f"{V1}/workflows/{uuid.uuid4()}"), 404, "not_found")
    assert_error(api.get(f"{V1}/workflows/not-a-uuid"), 400, "invalid_id")


def test_update_a_draft_but_not_a_published_workflow(api: Api) -> None:
    register(api)
    made = create(api)
    graph = chain(node("a"), node("b"))
    saved = ok(put(api, f"{V1}/workflows/{made['id']}", {"definition": graph, "name": "renamed"}))
    assert saved["definition"]["edges"][0]["target"] == "b" and saved["name"] == "renamed"
    assert saved["description"] == made["description"]
    live = published(api)
    assert_error(put(api, f"{V1}/workflows/{live['id']}", {"name": "x"}), 409, "invalid_transition")


def test_delete_a_draft_and_refuse_a_published_one_with_400(api: Api) -> None:
    register(api)
    made = create(api)
    assert ok(api.delete(f"{V1}/workflows/{made['id']}"))["id"] == made["id"]
    assert_error(api.get(f"{V1}/workflows/{made['id']}"), 404, "not_found")
    live = published(api)
    assert_error(api.delete(f"{V1}/workflows/{live['id']}"), 400, "cannot_delete")
    assert ok(api.get(f"{V1}/workflows/{live['id']}"))["status"] == "published"


def test_publish_valid_and_invalid_with_the_errors(api: Api) -> None:
    register(api)
    live = published(api)
    assert live["status"] == "published" and live["published_at"]
    bad = create(api, {"nodes": [node("a", "no.such"), node("a")], "edges": []})
    answer = api.post(f"{V1}/workflows/{bad['id']}/publish")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_input" and len(error["errors"]) >= 2
    assert any("duplicate node id" in e for e in error["errors"])
    assert any("unknown step type" in e for e in error["errors"])
    assert ok(api.get(f"{V1}/workflows/{bad['id']}"))["status"] == "draft"


def test_validate_answers_the_engines_verdict(api: Api) -> None:
    register(api)
    good = create(api, chain(node("a")))
    assert ok(api.post(f"{V1}/workflows/{good['id']}/validate")) == {"valid": True, "errors": []}
    empty = create(api)
    verdict = ok(api.post(f"{V1}/workflows/{empty['id']}/validate"))
    assert verdict["valid"] is False and "no nodes" in verdict["errors"][0]


def test_duplicate_makes_a_new_draft_with_version_plus_one_idempotently(api: Api) -> None:
    register(api)
    live = published(api)
    copy = ok(api.post(f"{V1}/workflows/{live['id']}/duplicate"), 201)
    assert copy["id"] != live["id"] and copy["version"] == live["version"] + 1
    assert copy["status"] == "draft" and copy["parent_id"] == live["id"]
    assert copy["definition"] == live["definition"]
    named = ok(api.post(f"{V1}/workflows/{live['id']}/duplicate", {"name": "v2"},
                        headers={"X-Idempotency-Key": "dup"}), 201)
    again = ok(api.post(f"{V1}/workflows/{live['id']}/duplicate", {"name": "v2"},
                        headers={"X-Idempotency-Key": "dup"}))
    assert named["name"] == "v2" and again["id"] == named["id"]
    assert_error(api.post(f"{V1}/workflows/{live['id']}/duplicate", {"name": "v3"},
                          headers={"X-Idempotency-Key": "dup"}), 409, "conflict")


def test_catalog_lists_built_ins_and_the_executors_step_types(api: Api) -> None:
    register(api, "default", "t.echo", "t.fetch")
    register(api, "team-a", "t.other")
    steps = ok(api.get(f"{V1}/catalog/steps"))
    names = {s["name"]: s for s in steps}
    assert {"approval", "t.echo", "t.fetch"} <= set(names) and "t.other" not in names
    assert names["approval"]["kind"] == "approval" and names["approval"]["executor_id"] == "*"
    assert set(names["t.echo"]) >= {"title", "description", "category", "config_schema"}
    user = api.user({"team-a": "client"})
    assert "t.other" in {s["name"] for s in ok(api.get(f"{V1}/catalog/steps", user))}
    assert "t.other" in {s["name"] for s in ok(api.get(f"{V1}/catalog/steps?executor_id=team-a"))}
