"""Small files translate in the daemon; larger ones go to the translation processes.

A worker round trip (pickling, the pool's threads and the GIL they take)
costs several times the translation of a small file, so the pipeline keeps
files up to ``inline_max_bytes`` on the event loop.  These tests pin down
where each file runs and that an inline failure is still a rejection.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gateway.config import PipelineSection
from gateway.journal import Intake, Journal, JournalOptions
from gateway.pipeline import Pipeline, _default_translate
from tests.harness import make_850, translate_with_unencodable_document
from translators.options import TranslatorOptions
from translators.result import Translation


class _RecordingPool(ThreadPoolExecutor):
    """A pool that remembers the size of each file it was handed."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.sizes: list[int] = []
        self.functions: list[str] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        # A large file goes alone, as (translate_one, translate, profile, data, options).
        self.sizes.append(next(len(a) for a in args if isinstance(a, bytes)))
        self.functions.append(fn.__name__)
        return super().submit(fn, *args, **kwargs)


def _run(
    tmp_path: Path,
    files: list[bytes],
    *,
    inline_max: int,
    translate: Callable[[Any, bytes, TranslatorOptions], Translation],
    pool: _RecordingPool | None = None,
) -> tuple[dict[str, int], list[int], dict[int, str]]:
    pool = pool or _RecordingPool()

    async def main() -> tuple[dict[str, int], dict[int, str]]:
        journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))
        pipeline = Pipeline(
            journal,
            registry=lambda: None,
            default_sinks=["out"],
            on_queued=lambda pairs: None,
            translate_fn=translate,
            executor=pool,
            inline_max_bytes=inline_max,
        )
        try:
            ids = []
            for data in files:
                result = await journal.append(Intake(transport="directory", data=data, partner="acme"))
                ids.append(int(result.message_id))
            await asyncio.gather(*(pipeline.process(mid) for mid in ids))
            rows = journal.read_sync(lambda c: c.execute("SELECT state, reason FROM messages").fetchall())
            states: dict[str, int] = {}
            for row in rows:
                states[row[0]] = states.get(row[0], 0) + 1
            reasons = {i: str(r[1]) for i, r in enumerate(rows) if r[0] == "rejected"}
            return states, reasons
        finally:
            journal.close()

    try:
        states, reasons = asyncio.run(main())
    finally:
        pool.shutdown()
    return states, pool.sizes, reasons


def test_small_files_translate_on_the_loop_and_large_ones_in_the_pool(tmp_path: Path) -> None:
    small = make_850(1, "PO-SMALL", lines=1)
    large = make_850(2, "PO-LARGE", lines=80)
    assert len(small) < 2048 < len(large)
    threads: dict[int, int] = {}

    def translate(profile: Any, data: bytes, options: TranslatorOptions) -> Translation:
        threads[len(data)] = threading.get_ident()
        return _default_translate(profile, data, options)

    loop_thread = threading.get_ident()  # asyncio.run runs the loop on this thread
    pool = _RecordingPool()
    states, pooled, _ = _run(tmp_path, [small, large], inline_max=2048, translate=translate, pool=pool)
    assert states == {"queued": 2}
    assert pooled == [len(large)], "only the file over the limit should reach the pool"
    assert threads[len(small)] == loop_thread
    assert threads[len(large)] != loop_thread
    # The large file was encoded where it was translated, not unpickled as dicts into the daemon.
    assert pool.functions == ["translate_one"]


def test_a_zero_limit_sends_every_file_to_the_pool(tmp_path: Path) -> None:
    files = [make_850(i, f"PO-{i}", lines=1) for i in range(1, 4)]
    states, pooled, _ = _run(tmp_path, files, inline_max=0, translate=_default_translate)
    assert states == {"queued": 3}
    assert sorted(pooled) == sorted(len(f) for f in files)


def test_a_translator_crash_on_the_loop_rejects_the_file_and_spares_the_others(tmp_path: Path) -> None:
    bad = make_850(1, "PO-BOOM", lines=1)
    good = make_850(2, "PO-FINE", lines=1)

    def translate(profile: Any, data: bytes, options: TranslatorOptions) -> Translation:
        if b"PO-BOOM" in data:
            raise RuntimeError("simulated translator bug")
        return _default_translate(profile, data, options)

    states, pooled, reasons = _run(tmp_path, [bad, good], inline_max=64 * 1024, translate=translate)
    assert pooled == []
    assert states == {"rejected": 1, "queued": 1}
    (reason,) = reasons.values()
    assert "internal error in the translator (RuntimeError: simulated translator bug)" in reason


def test_small_files_stay_in_the_daemon_only_without_translation_processes() -> None:
    # With processes, small files go to them in batches (tests/gateway/test_batcher.py).
    assert PipelineSection().inline_max_bytes() == 0
    assert PipelineSection(processes=2).inline_max_bytes() == 0
    assert PipelineSection(processes=0).inline_max_bytes() == 16 * 1024
    assert PipelineSection(processes=0, inline_max_kb=4).inline_max_bytes() == 4 * 1024
    assert PipelineSection(inline_max_kb=8).inline_max_bytes() == 8 * 1024
    assert PipelineSection().batch_max_kb == 64


def test_a_document_that_cannot_be_encoded_rejects_its_file_and_spares_the_others(tmp_path: Path) -> None:
    bad = make_850(1, "PO-TUPLEKEY", lines=1)
    good = make_850(2, "PO-FINE", lines=1)
    translate = translate_with_unencodable_document
    for inline_max in (64 * 1024, 0):  # on the loop, and in the pool (which encodes there)
        states, _, reasons = _run(
            tmp_path / str(inline_max), [bad, good], inline_max=inline_max, translate=translate
        )
        assert states == {"rejected": 1, "queued": 1}
        (reason,) = reasons.values()
        assert "internal error: a translated document cannot be written as JSON" in reason
