"""``collab serve`` sends most answers straight to ASGI (``app.send_response``) rather than
through a Starlette response: the headers must be exactly the ones Starlette sends."""

from __future__ import annotations

from typing import Any

import pytest

from collab_sdk.http.app import raw_headers, send_response, starlette_response
from collab_sdk.http.pipeline import Response


def _answers() -> list[Response]:
    return [
        Response(200, b'{"ok":true}', headers={"X-Request-Id": "r1", "Cache-Control": "no-store"}),
        Response(204, media_type="", headers={"Access-Control-Allow-Methods": "POST, OPTIONS"}),
        Response(404, b'{"error":{}}', headers={"Content-Type": "application/problem+json"}),
        Response(200, b"<p>hi</p>", media_type="text/html"),
        Response(200, b"x", media_type="text/plain; charset=latin-1"),
        Response(304, b"", headers={"ETag": '"1"'}),
        Response(429, b"{}", headers={"Retry-After": "3", "Content-Length": "2"}),
    ]


@pytest.mark.parametrize("head", [False, True])
@pytest.mark.parametrize("index", range(len(_answers())))
def test_raw_headers_are_starlettes(index: int, head: bool) -> None:
    answer = _answers()[index]
    assert raw_headers(answer, b"" if head else answer.body) == starlette_response(answer, head=head).raw_headers


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_send_response_sends_what_starlette_sends(method: str) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    for answer in _answers():
        ours: list[dict[str, Any]] = []
        theirs: list[dict[str, Any]] = []

        async def mine(message: Any) -> None:
            ours.append(message)

        async def starlettes(message: Any) -> None:
            theirs.append(message)

        scope = {"type": "http", "method": method}
        await send_response(answer, scope, receive, mine)
        await starlette_response(answer, head=method == "HEAD")(scope, receive, starlettes)
        assert ours == theirs
