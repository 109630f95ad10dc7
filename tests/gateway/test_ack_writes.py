"""Acknowledgment files are written beside translation, not in its way, and a failed write is tried again.

The acknowledgments are stored with the translation, in the same
transaction, and marked sent once their file is durable; so the translation
slot need not wait for the file, and an outbox that refuses a write (disk
full, permissions) costs the partner a delay, not the gateway its life.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gateway import pipeline as pipeline_module
from gateway.journal import Intake, Journal, JournalOptions
from gateway.pipeline import Pipeline
from tests.harness import make_850
from translators.options import TranslatorOptions
from translators.result import Acknowledgment, Translation


def _with_ack(profile: Any, data: bytes, options: TranslatorOptions) -> Translation:
    ack = Acknowledgment(kind="997", payload=b"ISA*the 997~", accepted=True, answers="1")
    return Translation(standard="x12", acks=(ack,))


def _pipeline(journal: Journal, on_acks: Any) -> Pipeline:
    return Pipeline(
        journal,
        registry=lambda: None,
        default_sinks=["out"],
        on_queued=lambda pairs: None,
        on_acks=on_acks,
        translate_fn=_with_ack,
    )


def _sent_at(journal: Journal, mid: int) -> object:
    return journal.read_sync(
        lambda c: c.execute("SELECT sent_at FROM replies WHERE message_id = ?", (mid,)).fetchone()[0]
    )


async def _until(check: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_the_translation_finishes_while_its_acknowledgment_is_still_being_written(tmp_path: Path) -> None:
    async def main() -> None:
        journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))
        release = asyncio.Event()
        written: list[tuple[str, int, list[tuple[str, bytes]]]] = []

        async def slow_outbox(partner: str, mid: int, acks: list[tuple[str, bytes]]) -> None:
            await release.wait()
            written.append((partner, mid, acks))

        pipeline = _pipeline(journal, slow_outbox)
        try:
            r = await journal.append(Intake(transport="directory", data=make_850(1, "PO1"), partner="acme"))
            mid = int(r.message_id)
            await asyncio.wait_for(pipeline.process(mid), timeout=10)
            assert written == [], "the translation must not wait for the outbox"
            state = journal.read_sync(
                lambda c: c.execute("SELECT state FROM messages WHERE id = ?", (mid,)).fetchone()[0]
            )
            assert state in ("translated", "queued", "delivered")
            assert _sent_at(journal, mid) is None
            idle = asyncio.ensure_future(pipeline.idle())
            await asyncio.sleep(0.05)
            assert not idle.done(), "idle() must wait for acknowledgments being written"
            release.set()
            await asyncio.wait_for(idle, timeout=10)
            assert written == [("acme", mid, [("ack-0-997", b"ISA*the 997~")])]
            await _until(lambda: _sent_at(journal, mid) is not None)
        finally:
            journal.close()

    asyncio.run(main())


def test_a_refused_write_is_tried_again_until_it_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_module, "_ACK_RETRY_FIRST", 0.05)

    async def main() -> None:
        journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))
        attempts: list[int] = []

        async def full_then_fine(partner: str, mid: int, acks: list[tuple[str, bytes]]) -> None:
            attempts.append(mid)
            if len(attempts) < 3:
                raise OSError(28, "No space left on device")

        pipeline = _pipeline(journal, full_then_fine)
        try:
            r = await journal.append(Intake(transport="directory", data=make_850(2, "PO2"), partner="acme"))
            mid = int(r.message_id)
            await pipeline.process(mid)
            await _until(lambda: len(attempts) >= 3)
            await pipeline.idle()
            assert attempts == [mid, mid, mid]
            assert "No space left on device" in (pipeline.stats.last_error or "")
            await _until(lambda: _sent_at(journal, mid) is not None)
            assert pipeline.stop_ack_retries() == 0
        finally:
            journal.close()

    asyncio.run(main())


def test_acknowledgments_still_owed_at_shutdown_stay_unsent_for_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_module, "_ACK_RETRY_FIRST", 30.0)

    async def main() -> None:
        journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))

        async def refusing(partner: str, mid: int, acks: list[tuple[str, bytes]]) -> None:
            raise PermissionError(13, "Permission denied")

        pipeline = _pipeline(journal, refusing)
        try:
            r = await journal.append(Intake(transport="directory", data=make_850(3, "PO3"), partner="acme"))
            mid = int(r.message_id)
            await pipeline.process(mid)
            await asyncio.wait_for(pipeline.idle(), timeout=10)
            assert pipeline.stop_ack_retries() == 1
            owed = await journal.unsent_replies()
            assert [m for m, _, _ in owed] == [mid], "the next start must find it owed"
        finally:
            journal.close()

    asyncio.run(main())
