"""Worker.run's event loop: uvloop's where installed, the standard one when asked."""

from __future__ import annotations

import asyncio
import gc

import pytest

from collab_sdk.errors import ConfigurationError
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


def test_run_collects_the_youngest_generation_less_often_and_restores_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLLAB_GC_THRESHOLD", raising=False)
    before = gc.get_threshold()

    async def threshold() -> tuple[int, int, int]:
        return gc.get_threshold()

    inside = eventloop.run(threshold())
    assert inside == (eventloop.GC_THRESHOLD, *before[1:])
    assert gc.get_threshold() == before


def test_collab_gc_threshold_sets_it_and_zero_keeps_pythons(monkeypatch: pytest.MonkeyPatch) -> None:
    before = gc.get_threshold()

    async def threshold() -> int:
        return gc.get_threshold()[0]

    monkeypatch.setenv("COLLAB_GC_THRESHOLD", "50000")
    assert eventloop.run(threshold()) == 50000
    monkeypatch.setenv("COLLAB_GC_THRESHOLD", "0")
    assert eventloop.run(threshold()) == before[0]
    monkeypatch.setenv("COLLAB_GC_THRESHOLD", "lots")
    with pytest.raises(ConfigurationError, match="COLLAB_GC_THRESHOLD"):
        eventloop.run(threshold())
    assert gc.get_threshold() == before
