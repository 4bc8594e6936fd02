"""Sockets opened by the server's own pages: a page's own origin (``Origin`` = the
``Host`` it was served from) may open a socket whatever ``COLLAB_CORS_ORIGINS`` says, as
the dashboard on ``collab serve`` does, while another origin is still refused; and under
``collab dev`` (a ``LoopbackAuthenticator``) a handshake with no credentials is the
development identity, with its loopback checks (a rebound ``Host`` is refused)."""

from __future__ import annotations

from collab_sdk.auth.tokens import AuthConfig
from collab_sdk.http import Settings
from collab_sdk.http.devauth import LoopbackAuthenticator
from collab_sdk.http.runtime import Runtime
from collab_sdk.http.sockets import CLOSE_NORMAL
from collab_sdk.local.storage import LocalStorage
from collab_sdk import AsyncCollabClient
from collab_sdk.transports.postgres import PostgresTransport
from http_support import SECRET, Api, make_runtime, serving
from test_http_ws import WS, finished_job, read_all


def test_a_pages_own_origin_may_open_a_socket_and_another_may_not(db_url: str, storage: LocalStorage,
                                                                 api: Api) -> None:
    settings = Settings(rate_limit=0, cors_origins=("https://app.example",))
    with serving(make_runtime(db_url, storage, settings=settings)) as http:
        job_id = finished_job(api)
        for origin, host, code in (("http://testserver", "testserver", CLOSE_NORMAL),
                                   ("http://127.0.0.1:3100", "127.0.0.1:3100", CLOSE_NORMAL),
                                   ("http://127.0.0.1:3101", "127.0.0.1:3100", 4403),
                                   ("https://testserver.evil", "testserver", 4403)):
            with http.websocket_connect(f"{WS}?jobId={job_id}", headers={
                    "Origin": origin, "Host": host, **api.as_service()}) as ws:
                messages, closed = read_all(ws)
            assert closed == code, (origin, host, messages)


def test_collab_devs_socket_needs_no_credentials_on_loopback_only(db_url: str, api: Api) -> None:
    runtime = Runtime(AsyncCollabClient(PostgresTransport(db_url, max_size=2)),
                      LoopbackAuthenticator(AuthConfig(mode="local", jwt_secret=SECRET)), Settings(rate_limit=0))
    with serving(runtime) as http:
        job_id = finished_job(api)
        with http.websocket_connect(f"{WS}?jobId={job_id}", headers={
                "Host": "127.0.0.1:3100", "Origin": "http://127.0.0.1:3100"}) as ws:
            messages, closed = read_all(ws)
        assert closed == CLOSE_NORMAL
        assert [m["type"] for m in messages][0] == "snapshot" and messages[-1] == {"type": "end", "reason": "final"}
        # A rebound name (its own origin, so the origin check passes) is not the dev identity.
        with http.websocket_connect(f"{WS}?jobId={job_id}", headers={
                "Host": "evil.example", "Origin": "http://evil.example"}) as ws:
            messages, closed = read_all(ws)
        assert closed == 4401 and messages[0]["error"]["code"] == "dev_identity_refused"
