"""Reading request bodies and query strings defensively, before pydantic sees them.

A body must be at most ``max_bytes`` (413 ``body_too_large``), ``application/json``
sent as ``application/json`` (any other or a missing Content-Type with a body is 415), valid UTF-8 JSON (400 ``invalid_json``) without
duplicate keys, ``NaN``/``Infinity``, NUL characters (which PostgreSQL's jsonb refuses)
or nesting deeper than ``MAX_DEPTH`` (400 ``too_deep``). Then the route's pydantic model
validates it: 422 ``invalid_body`` naming the fields (never echoing their values).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from collab_sdk.http.errors import HttpError

__all__ = ["MAX_DEPTH", "read_json", "parse_json", "validate_body", "validate_query",
           "describe_errors"]

MAX_DEPTH = 64
M = TypeVar("M", bound=BaseModel)


class _Refused(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def read_json(raw: bytes | None, content_type: str | None, *, required: bool) -> Any:
    """The JSON value of a body already read; an optional body that is absent is ``{}``
    (every field at its default), while a body of JSON ``null`` is a value like any other
    (and no object: the model refuses it)."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime and not (mime == "application/json" or (mime.startswith("application/")
                                                     and mime.endswith("+json"))):
        raise HttpError(415, "unsupported_media_type",
                        f"Content-Type must be application/json, not {mime}")
    if raw and raw.strip() and not mime:  # a body nobody said is JSON is not read as JSON
        raise HttpError(415, "unsupported_media_type",
                        "send the body with Content-Type: application/json")
    if not raw or not raw.strip():
        if required:
            raise HttpError(400, "invalid_json", "the request body must be a JSON object")
        return {}
    return parse_json(raw)


def parse_json(raw: bytes) -> Any:
    """Strict JSON: UTF-8, no duplicate keys, no NaN, no NUL, at most ``MAX_DEPTH`` deep."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "invalid_json", "the request body is not valid UTF-8") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant,
                           parse_float=_finite_float)
    except _Refused as exc:
        raise HttpError(400, exc.code, str(exc)) from None
    except RecursionError:
        raise HttpError(400, "too_deep", f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
        raise HttpError(400, "invalid_json", f"the request body is not valid JSON: {exc}") from None
    _check_tree(value)
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused("duplicate_key", f"duplicate key {key[:50]!r} in JSON object")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise _Refused("invalid_json", f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused("invalid_json", f"number {text[:30]} is out of range")
    return value


def _check_tree(value: Any) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise HttpError(400, "invalid_json", "NUL characters (\\u0000) are not allowed")
            continue
        if not isinstance(item, (dict, list)):
            continue
        if depth > MAX_DEPTH:
            raise HttpError(400, "too_deep", f"JSON nested deeper than {MAX_DEPTH} levels")
        children: Iterable[Any] = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
        stack.extend((child, depth + 1) for child in children)


def describe_errors(exc: PydanticValidationError) -> str:
    """``field: problem; …`` for the first few errors, without the rejected values."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False)[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "body"
        # The pattern is in the OpenAPI document; repeating it (a cursor's is 400
        # characters) helps nobody reading the message.
        problem = ("does not have the documented form" if error["type"] == "string_pattern_mismatch"
                   else error["msg"])
        parts.append(f"{where}: {problem}")
    return "; ".join(parts)


def validate_body(model: type[M], value: Any) -> M:
    """``value`` (parsed JSON) as ``model``, or a 422."""
    try:
        return model.model_validate(value)
    except PydanticValidationError as exc:
        raise HttpError(422, "invalid_body", describe_errors(exc)) from None


def validate_query(model: type[M], args: Mapping[str, list[str]]) -> M:
    """Query parameters (each given at most once, no NUL) as ``model``, or a 400."""
    values: dict[str, str] = {}
    for name, given in args.items():
        if len(given) != 1:
            raise HttpError(400, "invalid_query", f"query parameter {name[:50]!r} given more than once")
        if "\x00" in given[0] or "\x00" in name:
            raise HttpError(400, "invalid_query", "NUL characters are not allowed")
        values[name] = given[0]
    try:
        return model.model_validate(values)
    except PydanticValidationError as exc:
        raise HttpError(400, "invalid_query", describe_errors(exc)) from None
