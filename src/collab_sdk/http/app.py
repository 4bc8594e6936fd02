"""The WSGI app: the Collab API under ``/api/collab``, every function under
``/functions/v1/<name>``, ``/docs.json`` and ``/docs`` (Swagger UI from the packaged
``swagger-ui-py`` assets, no CDN), and — in embedded mode — the signed artifact
downloads ``/storage/v1/object/sign/<bucket>/<path>?token=`` that ``sign-artifact`` issues.

``create_app(runtime)`` builds it; ``collab_sdk.http.serve`` runs it under waitress.
"""

from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import flask
from werkzeug.exceptions import HTTPException

from collab_sdk.errors import CollabError
from collab_sdk.http.errors import Failure, failure_for
from collab_sdk.http.openapi import openapi_document
from collab_sdk.http.pipeline import Route, dispatch, error_response, request_id_of
from collab_sdk.http.routes import COLLAB_PREFIX, FUNCTIONS_PREFIX, ROUTES
from collab_sdk.http.runtime import Runtime
from collab_sdk.local.storage import check_object_path, verify_signed_url_token

__all__ = ["create_app", "swagger_ui_dir"]

_DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>collab API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
<script src="/docs/assets/init.js"></script>
</body></html>
"""
_DOCS_INIT = """window.ui = SwaggerUIBundle({url: "/docs.json", dom_id: "#swagger-ui",
  deepLinking: true, presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout"});
"""
_ASSETS = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
           "favicon-32x32.png", "favicon-16x16.png"}


def swagger_ui_dir() -> Path | None:
    """The packaged Swagger UI assets (``swagger-ui-py``), or None when not installed."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    static = Path(list(spec.submodule_search_locations)[0]) / "static"
    return static if (static / "swagger-ui-bundle.js").is_file() else None


@lru_cache(maxsize=1)
def _openapi_json() -> str:
    return json.dumps(openapi_document())


def create_app(runtime: Runtime) -> flask.Flask:
    """The WSGI app serving every route with ``runtime``."""
    app = flask.Flask("collab_sdk.http")
    app.config["MAX_CONTENT_LENGTH"] = None  # the pipeline enforces the body limit itself
    for route in ROUTES:
        if route.path is not None:
            _add(app, runtime, route, COLLAB_PREFIX + route.path, f"collab:{route.name}")
        if route.function is not None:
            _add(app, runtime, route, f"{FUNCTIONS_PREFIX}/{route.function}", f"fn:{route.function}")

    @app.get("/docs.json")
    def docs_json() -> flask.Response:
        return flask.Response(_openapi_json(), mimetype="application/json")

    @app.get("/docs")
    def docs() -> flask.Response:
        if swagger_ui_dir() is None:
            return error_response(Failure(503, "docs_unavailable", "swagger-ui-py is not installed"))
        return flask.Response(_DOCS_HTML, mimetype="text/html")

    @app.get("/docs/assets/<name>")
    def docs_asset(name: str) -> flask.Response:
        if name == "init.js":
            return flask.Response(_DOCS_INIT, mimetype="text/javascript")
        folder = swagger_ui_dir()
        if folder is None or name not in _ASSETS:
            return error_response(Failure(404, "not_found", "no such asset"))
        return flask.send_from_directory(folder, name, max_age=3600)

    @app.get("/storage/v1/object/sign/<bucket>/<path:path>")
    def signed_download(bucket: str, path: str) -> flask.Response:
        return _signed_download(runtime, bucket, path)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> flask.Response:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
        status = exc.code or 500
        allow = exc.get_response().headers.get("Allow")  # 405 must list the methods
        return _with_id(error_response(Failure(status, codes.get(status, "http_error"),
                                               exc.description or exc.name,
                                               {"Allow": allow} if allow else {})))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> flask.Response:
        app.logger.error("unhandled %s", type(exc).__name__, exc_info=exc)
        return _with_id(error_response(failure_for(exc)))

    return app


def _add(app: flask.Flask, runtime: Runtime, route: Route, rule: str, endpoint: str) -> None:
    def view(**path_args: Any) -> flask.Response:
        return dispatch(runtime, route, flask.request, path_args)

    app.add_url_rule(rule, endpoint, view, methods=[route.method, "OPTIONS"],
                     provide_automatic_options=False)


def _with_id(response: flask.Response) -> flask.Response:
    response.headers["X-Request-Id"] = request_id_of(flask.request)
    return response


def _signed_download(runtime: Runtime, bucket: str, path: str) -> flask.Response:
    """Serve an object of the embedded storage if the URL's token signs it and is live."""
    storage = runtime.local_storage
    if storage is None:
        return _with_id(error_response(Failure(404, "not_found", "no embedded storage here")))
    token = flask.request.args.get("token", "")
    try:
        check_object_path(bucket, path)
        verify_signed_url_token(storage.secret, bucket, path, token)
        target = storage.object_file(bucket, path)
    except CollabError as exc:
        status, code = (400, "invalid_path") if exc.status == 400 else (403, "invalid_signature")
        return _with_id(error_response(Failure(status, code, exc.message)))
    if not target.is_file():
        return _with_id(error_response(Failure(404, "not_found", "no such object")))
    response = flask.send_file(target, as_attachment=False, max_age=0, conditional=True)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return _with_id(response)
