"""A thin way to write a definition in Python: the same ``{nodes, edges}`` JSON.

    flow = Flow()
    fetch = flow.step("fetch", "http.fetch", url="https://example.com")
    review = flow.step("review", "approval")
    flow.step("publish", "site.publish", after=[fetch, review])
    client.workflows.create("publish", executor_id="default", definition=flow.definition())

Edge ids are ``<source>:<target>``. Nothing is checked here: the engine validates.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from collab_sdk.workflows.models import Definition, Edge, Node

__all__ = ["Flow"]


class Flow:
    """Collects nodes and edges in the order they are added."""

    def __init__(self) -> None:
        self._nodes: list[Node] = []
        self._edges: list[Edge] = []

    def step(self, id: str, type: str, *, after: Iterable[str] = (), **config: Any) -> str:
        """Add node ``id`` of catalog type ``type`` with ``config`` as its data, after
        the steps named in ``after``; returns ``id`` (to pass to later ``after=``)."""
        self._nodes.append(Node(id=id, type=type, data=dict(config)))
        self._edges.extend(Edge(id=f"{source}:{id}", source=source, target=id) for source in after)
        return id

    def definition(self) -> dict[str, Any]:
        """The definition as the engine and the editor store it."""
        return Definition(nodes=self._nodes, edges=self._edges).model_dump(mode="json")
