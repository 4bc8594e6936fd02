"""The workflow API of the seed (workflow-api-layer.md): REST under ``/api/v1`` and
``WS /ws/runs/{run_id}``, served by ``collab serve`` beside the Collab API through the
same route core (``collab_sdk.http.pipeline``: auth, CORS, limits, the error envelope).

- ``models``: the request and response models, snake_case on the wire as the seed
  writes them (plain pydantic, no camelCase aliases), with collab's ``executor_id``.
- ``handlers``: thin route functions — validate, one ``call.client.workflows`` call (as
  the caller), answer a model; no SQL, each at most 20 lines (a test checks).
- ``sockets``: the run stream (a snapshot, then each event once, in seq order).
- ``routes``: the ``RouteTable``s that ``collab_sdk.http.routes.TABLES`` lists.

It may import ``collab_sdk.client``, ``collab_sdk.workflows``, ``collab_sdk.auth`` and the
HTTP core (``pipeline``, ``errors``, ``runtime``, ``sockets``, ``handlers``); nothing in
the core imports it but ``collab_sdk.http.routes``. See docs/workflow-api.md.
"""

from __future__ import annotations

__all__: list[str] = []
