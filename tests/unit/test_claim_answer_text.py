"""A scalar JSON answer read from its text (``RpcCore.value_json``, ``AnswersJsonText``):
the same models and the same ``ProtocolError`` as the decoded path, without a database."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from collab_sdk import AsyncCollabClient
from collab_sdk.client.async_client import _ClaimedBatchAnswer
from collab_sdk.client.rpc import parse_answer, parse_answer_json
from collab_sdk.errors import ProtocolError
from collab_sdk.transports.base import AnswersJsonText
from collab_sdk.transports.postgres import PostgresTransport, RpcSignature, rpc_statement

FN = "complete_and_claim_jobs_v1"
JOB = {"id": "01a23453-f069-72f1-8d82-dd8467f8f706", "type": "t", "executor_id": "ex", "status": "running",
       "payload": {"s": "é😀\n\"", "big": 12345678901234567890123, "f": 1.5e300, "l": [1, None, True, {"a": []}]},
       "result": None, "last_error": "boom", "priority": 0, "attempts": 1, "max_attempts": 3,
       "idempotency_key": None, "lease_owner": "w1", "next_run_at": "2026-12-02T01:18:26.011528+00:00",
       "lease_until": "2026-12-02T01:18:26.011528+00:00", "created_at": "2026-12-02T01:17:25.988017+00:00",
       "updated_at": "2026-12-02T01:17:26.011528+00:00", "started_at": "2026-12-02T01:17:26.011528+00:00",
       "finished_at": None, "workflow_run_id": None, "rescues": 2, "forgiven_attempts": 0, "solo": True,
       "trace_context": {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}
ANSWER = json.dumps({"lost": ["01a23453-f069-72f1-8d82-dd8467f8f707"], "jobs": [JOB]})


class _Answers:
    """A transport answering ``schema_version`` and one canned JSON text: as text with
    ``call_text``, decoded with ``call`` (``text=False`` leaves ``call_text`` out)."""

    def __init__(self, text: str | None) -> None:
        self.text = text
        self.calls: list[str] = []

    async def call(self, fn: str, args: Mapping[str, Any], columns: Sequence[str] | None = None) -> Any:
        self.calls.append(f"call {fn}")
        if fn == "schema_version":
            return 4
        return None if self.text is None else json.loads(self.text)

    async def call_text(self, fn: str, args: Mapping[str, Any]) -> str | None:
        self.calls.append(f"call_text {fn}")
        return self.text

    async def aclose(self) -> None:
        pass


class _Decoded(_Answers):
    call_text = None  # type: ignore[assignment]  # not an AnswersJsonText


def test_the_text_reads_as_the_decoded_answer() -> None:
    one_pass = parse_answer_json(_ClaimedBatchAnswer, ANSWER, FN)
    assert one_pass == parse_answer(_ClaimedBatchAnswer, json.loads(ANSWER), FN)
    assert type(one_pass["jobs"][0]) is type(parse_answer(_ClaimedBatchAnswer, json.loads(ANSWER), FN)["jobs"][0])


@pytest.mark.parametrize("text", ['{"lost": [], "jobs": [{"id": "nope"}]}', "not json", '{"lost": 1}', "null"])
def test_an_answer_it_cannot_read_is_a_protocol_error_either_way(text: str) -> None:
    prefix = f"collab.{FN} answered something this SDK cannot read"
    with pytest.raises(ProtocolError, match=prefix):
        parse_answer_json(_ClaimedBatchAnswer, text, FN)
    if text != "not json":  # the decoded path never sees text that is not JSON
        with pytest.raises(ProtocolError, match=prefix):
            parse_answer(_ClaimedBatchAnswer, json.loads(text), FN)


@pytest.mark.parametrize("transport", [_Answers, _Decoded])
async def test_the_client_claims_the_same_batch_over_either_kind_of_transport(transport: type[_Answers]) -> None:
    fake = transport(ANSWER)
    assert isinstance(fake, AnswersJsonText) == (transport is _Answers)
    batch = await AsyncCollabClient(fake).complete_and_claim_many("ex", "w1", max_jobs=1)
    assert batch == tuple(parse_answer(_ClaimedBatchAnswer, json.loads(ANSWER), FN).values())
    assert fake.calls[-1] == ("call_text " if transport is _Answers else "call ") + FN


@pytest.mark.parametrize("transport", [_Answers, _Decoded])
async def test_a_null_answer_is_a_protocol_error_over_either(transport: type[_Answers]) -> None:
    with pytest.raises(ProtocolError, match=f"collab.{FN} answered something this SDK cannot read"):
        await AsyncCollabClient(transport(None)).complete_and_claim_many("ex", "w1")


def test_the_postgres_transport_answers_text_with_a_cast_statement() -> None:
    assert isinstance(PostgresTransport("postgresql://localhost/x"), AnswersJsonText)
    scalar = RpcSignature(returns_set=False, arg_types={"worker_id": "text", "completions": "jsonb"})
    query, _ = rpc_statement(FN, {"worker_id": "w", "completions": []}, scalar, as_text=True)
    assert query.as_string(None) == ('select "collab"."complete_and_claim_jobs_v1"("worker_id" => %s::text, '
                                     '"completions" => %s::jsonb)::text as value')
    rows = RpcSignature(returns_set=True, arg_types={"worker_id": "text"})
    with pytest.raises(ValueError, match="returns rows"):
        rpc_statement("claim_jobs_v1", {"worker_id": "w"}, rows, as_text=True)
