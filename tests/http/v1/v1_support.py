"""Helpers for the workflow API tests: definitions, registering step types, making
published workflows over HTTP, and a worker module for the live tests
(``v1_worker_app``)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from http_support import Api

V1 = "/api/v1"


def node(node_id: str, step_type: str = "t.echo", **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": step_type, "data": data}


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """A definition whose nodes run one after the other."""
    edges = [{"id": f"e{i}", "source": a["id"], "target": b["id"]}
             for i, (a, b) in enumerate(zip(nodes, nodes[1:]))]
    return {"nodes": list(nodes), "edges": edges}


def approval_flow() -> dict[str, Any]:
    """fetch (t.echo) -> gate (approval) -> finish (t.echo)."""
    return chain(node("fetch"), node("gate", "approval"), node("finish"))


def register(api: Api, executor: str = "default", *names: str) -> None:
    """Put step types in ``executor``'s catalog (what a worker does when it starts)."""
    api.owner.rpc("register_step_types_v1", executor_id=executor,
                  step_types=[{"name": n, "title": n.title()} for n in (names or ("t.echo",))])


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()


def create(api: Api, definition: dict[str, Any] | None = None, token: str | None = None,
           **fields: Any) -> dict[str, Any]:
    body = {"name": fields.pop("name", "wf"), **fields}
    if definition is not None:
        body["definition"] = definition
    return ok(api.post(f"{V1}/workflows", body, token), 201)  # type: ignore[no-any-return]


def published(api: Api, definition: dict[str, Any] | None = None, token: str | None = None,
              **fields: Any) -> dict[str, Any]:
    """A workflow created and published over HTTP."""
    made = create(api, definition if definition is not None else chain(node("a")), token, **fields)
    return ok(api.post(f"{V1}/workflows/{made['id']}/publish", None, token))  # type: ignore[no-any-return]


def put(api: Api, path: str, body: Any, token: str | None = None) -> httpx.Response:
    headers = api.bearer(token) if token else api.as_service()
    return api.http.put(path, json=body, headers=headers)


def claim(api: Api, executor: str = "default", worker: str = "w1") -> list[dict[str, Any]]:
    """Lease the executor's due step jobs as worker ``worker`` (what a worker's claim does)."""
    return api.owner.rpc("claim_jobs_v1", executor_id=executor, worker_id=worker, max_jobs=10,
                         lease_seconds=60)


def complete(api: Api, job: dict[str, Any], worker: str = "w1", result: Any = None) -> None:
    api.owner.rpc("complete_job_v1", job_id=job["id"], worker_id=worker,
                  result=result if result is not None else {"by": job["workflow_step_id"]})


def fail(api: Api, job: dict[str, Any], worker: str = "w1") -> None:
    api.owner.rpc("fail_job_v1", job_id=job["id"], worker_id=worker, error="boom", retryable=False)


def start(api: Api, workflow: dict[str, Any], token: str | None = None, **body: Any) -> dict[str, Any]:
    return ok(api.post(f"{V1}/workflows/{workflow['id']}/run", body, token), 201)  # type: ignore[no-any-return]


def burst(api: Api, path: str, body: Any, key: str, count: int = 16) -> str:
    """``count`` concurrent POSTs with one idempotency key: exactly one made the
    resource (201), the others got it (200); its id."""
    def post(_: int) -> tuple[int, str]:
        r = api.post(path, body, headers={"X-Idempotency-Key": key})
        return r.status_code, r.json()["id"]

    with ThreadPoolExecutor(count) as pool:
        answers = list(pool.map(post, range(count)))
    assert len({made for _, made in answers}) == 1, answers
    assert sorted(s for s, _ in answers) == [200] * (count - 1) + [201]
    return answers[0][1]
