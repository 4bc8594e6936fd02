"""``collab_sdk.logs.redact`` skips a pattern when its fixed part is absent from the line (the
access log's cost): it must mask exactly what running every pattern always would."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from collab_sdk import logs


def _every_pattern(text: str) -> str:
    text = logs._URL_PASSWORD.sub(lambda m: m.group("head") + logs._MASK, text)
    text = logs._JWT.sub(logs._MASK, text)
    return logs._BEARER.sub(lambda m: m.group("head") + logs._MASK, text)


CASES = [
    '{"event": "http_request", "path": "/api/collab/task.claim", "status": 200}',
    "connect postgresql://collab:s3cret@db:5432/app failed",
    "HTTPS://user:pw@host/x and ftp://a:b@c",
    "Authorization: Bearer abc.def-ghi, then bEaReR\tXYZ and BEARER  q",
    "token eyJhbGciOi.eyJzdWIiOi.sig and bearer eyJabcd.efgh.ijk",
    "nothing to see: bear, bearers?, Bear er, ://, :@",
]


def test_each_case_is_masked_as_by_every_pattern() -> None:
    for text in CASES:
        assert logs.redact(text, env={}) == _every_pattern(text), text
    assert "s3cret" not in logs.redact(CASES[1], env={})
    assert "abc.def-ghi" not in logs.redact(CASES[3], env={}) and "XYZ" not in logs.redact(CASES[3], env={})


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["Bearer ", "bEArer\t", "BEARER", "://", "http", "u:", "pw", "@", "/",
                                 " ", "eyJ", "abcd", ".", "x", "é", "İ", "K", ","]), max_size=24).map("".join))
def test_any_text_is_masked_as_by_every_pattern(text: str) -> None:
    assert logs.redact(text, env={}) == _every_pattern(text)
