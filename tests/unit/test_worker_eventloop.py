"""Worker.run's event loop: uvloop's where installed, the standard one when asked."""

from __future__ import annotations

import asyncio

import pytest

from collab_sdk.worker import eventloop


def test_run_uses_uvloop_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    uvloop = pytest.importorskip("uvloop")
    monkeypatch.delenv("COLLAB_EVENT_LOOP", raising=False)

    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert eventloop.loop_factory() is uvloop.new_event_loop
    assert eventloop.run(loop_type()) is uvloop.Loop


def test_collab_event_loop_asyncio_picks_the_standard_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLAB_EVENT_LOOP", "asyncio")

    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert eventloop.loop_factory() is None
    assert eventloop.run(loop_module()).startswith("asyncio")
