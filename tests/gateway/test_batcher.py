"""gateway.batcher: small files reach the translation processes in batches, each with its own outcome.

The pool is a thread pool whose calls can be held open (so a batch is "in flight" as long as the
test wants) or the real spawn pool of the daemon (pickling across processes).  The pipeline-level
tests check that a batched translation stores exactly what an inline one stores.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import pickle
import re
import signal
import threading
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gateway.batcher import (
    TranslationBatcher,
    TranslatorCrash,
    UnencodableDocument,
    encode_translation,
    translate_many,
    translate_one,
)
from gateway.envelopes import encode_document
from gateway.journal import Intake, Journal, JournalOptions
from gateway.pipeline import Pipeline, _default_translate
from gateway.workers import translation_pool
from tests.harness import make_850, translate_with_unencodable_document
from translators.errors import RemoteSyntaxError
from translators.options import TranslatorOptions
from translators.result import Translation


class _GatedPool(ThreadPoolExecutor):
    """Counts calls and holds each open until ``gate`` is set."""

    def __init__(self) -> None:
        super().__init__(max_workers=4)
        self.gate = threading.Event()
        self.batches: list[int] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.batches.append(len(args[1]))

        def held() -> Any:
            self.gate.wait(10)
            return fn(*args, **kwargs)

        return super().submit(held)


def _picky(profile: Any, data: bytes, options: TranslatorOptions) -> Translation:
    if b"PO-SYNTAX" in data:
        raise RemoteSyntaxError("segment terminator missing", scope="interchange")
    if b"PO-BUG" in data:
        raise KeyError("simulated translator bug")
    return _default_translate(profile, data, options)


def test_files_arriving_while_a_batch_runs_share_the_next_one() -> None:
    pool = _GatedPool()
    files = [make_850(i, f"PO-{i}", lines=1) for i in range(1, 12)]

    async def main() -> list[Any]:
        batcher = TranslationBatcher(pool, _default_translate, processes=1)
        calls = [asyncio.ensure_future(batcher.translate(None, f, TranslatorOptions())) for f in files]
        await asyncio.sleep(0.05)
        pool.gate.set()
        return list(await asyncio.gather(*calls))

    try:
        results = asyncio.run(main())
    finally:
        pool.shutdown()
    # The first file went alone (the pool was idle); the ten behind it, together.
    assert pool.batches == [1, 10]
    for data, result in zip(files, results, strict=True):
        inline = _default_translate(None, data, TranslatorOptions())
        assert result.encoded == tuple(
            (encode_document(d.document), encode_document(d.extensions)) for d in inline.documents
        )
        assert [d.document_type for d in result.translation.documents] == ["purchase_order"]
        assert result.translation.acks == inline.acks


def test_batches_respect_the_item_and_byte_limits() -> None:
    pool = _GatedPool()
    small = [make_850(i, f"PO-{i}", lines=1) for i in range(1, 9)]

    async def main() -> None:
        batcher = TranslationBatcher(pool, _default_translate, processes=1, max_items=3, max_bytes=10**6)
        calls = [asyncio.ensure_future(batcher.translate(None, f, TranslatorOptions())) for f in small]
        await asyncio.sleep(0.05)
        pool.gate.set()
        await asyncio.gather(*calls)

    try:
        asyncio.run(main())
    finally:
        pool.shutdown()
    assert pool.batches == [1, 3, 3, 1]


def test_each_file_keeps_its_own_outcome() -> None:
    pool = _GatedPool()
    pool.gate.set()
    files = [make_850(1, "PO-FINE"), make_850(2, "PO-SYNTAX"), make_850(3, "PO-BUG"), make_850(4, "PO-OK")]

    async def main() -> list[Any]:
        batcher = TranslationBatcher(pool, _picky, processes=1)
        calls = [batcher.translate(None, f, TranslatorOptions()) for f in files]
        return list(await asyncio.gather(*calls, return_exceptions=True))

    try:
        fine, syntax, bug, ok = asyncio.run(main())
    finally:
        pool.shutdown()
    assert len(fine.encoded) == 1 and len(ok.encoded) == 1
    assert isinstance(syntax, RemoteSyntaxError) and syntax.scope == "interchange"
    assert type(bug) is TranslatorCrash  # not its UnencodableDocument subclass
    assert str(bug) == "KeyError: 'simulated translator bug'"


def test_a_broken_pool_fails_every_waiting_caller_with_it() -> None:
    class Broken(ThreadPoolExecutor):
        def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
            raise BrokenExecutor("a worker died")

    pool = Broken()

    async def main() -> list[Any]:
        batcher = TranslationBatcher(pool, _default_translate, processes=1)
        calls = [batcher.translate(None, make_850(i, "PO"), TranslatorOptions()) for i in (1, 2)]
        return list(await asyncio.gather(*calls, return_exceptions=True))

    try:
        outcomes = asyncio.run(main())
    finally:
        pool.shutdown()
    assert all(isinstance(o, BrokenExecutor) for o in outcomes)


def test_the_real_worker_processes_send_back_translations_and_errors() -> None:
    pool = translation_pool(1)
    files = [make_850(1, "PO-FINE", lines=3), make_850(2, "PO-SYNTAX"), make_850(3, "PO-BUG")]
    try:
        outcomes = pool.submit(
            translate_many, _picky, [(None, f, TranslatorOptions()) for f in files]
        ).result(60)
    finally:
        pool.shutdown()
    fine, syntax, bug = outcomes
    assert not isinstance(fine, Exception)
    assert fine == encode_translation(_default_translate(None, files[0], TranslatorOptions()))
    assert isinstance(syntax, RemoteSyntaxError) and str(syntax) == "segment terminator missing"
    assert isinstance(bug, TranslatorCrash) and bug.kind == "KeyError"


def _stored(tmp_path: Path, files: list[bytes], **pipeline: Any) -> list[tuple[str, str]]:
    async def main() -> list[tuple[str, str]]:
        journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))
        pipe = Pipeline(
            journal,
            registry=lambda: None,
            default_sinks=["out"],
            on_queued=lambda pairs: None,
            **pipeline,
        )
        try:
            ids = []
            for data in files:
                result = await journal.append(Intake(transport="directory", data=data, partner="acme"))
                ids.append(int(result.message_id))
            await asyncio.gather(*(pipe.process(mid) for mid in ids))
            rows = journal.read_sync(
                lambda c: c.execute(
                    "SELECT m.state, d.envelope FROM messages m LEFT JOIN documents d ON d.message_id = m.id"
                    " ORDER BY m.id"
                ).fetchall()
            )
            return [(str(r[0]), str(r[1])) for r in rows]
        finally:
            journal.close()

    return asyncio.run(main())


def test_a_batched_translation_stores_what_an_inline_one_stores(tmp_path: Path) -> None:
    files = [make_850(i, f"PO-{i}", lines=i) for i in range(1, 6)] + [b"ISA*garbage"]
    inline = _stored(tmp_path / "inline", files, inline_max_bytes=1 << 20)
    pool = ThreadPoolExecutor(max_workers=2)
    try:
        batched = _stored(tmp_path / "batched", files, executor=pool, batch_max_bytes=1 << 20, processes=2)
    finally:
        pool.shutdown()
    assert [state for state, _ in inline] == ["queued"] * 5 + ["rejected"]
    # Byte for byte, once the receipt time (the journal's clock) is set aside.
    assert [_without_receipt_time(e) for _, e in batched] == [_without_receipt_time(e) for _, e in inline]
    assert [s for s, _ in batched] == [s for s, _ in inline]


def test_files_too_large_for_a_batch_are_encoded_in_a_real_worker_and_stored_alike(tmp_path: Path) -> None:
    # batch_max_bytes=1: every file goes alone through translate_one in a spawned worker.
    files = [make_850(i, f"PO-{i}", lines=40 * i) for i in (1, 2)] + [b"ISA*garbage"]
    inline = _stored(tmp_path / "inline", files, inline_max_bytes=1 << 20)
    pool = translation_pool(1)
    try:
        alone = _stored(
            tmp_path / "alone", files, executor=pool, inline_max_bytes=0, batch_max_bytes=1, processes=1
        )
    finally:
        pool.shutdown()
    assert [state for state, _ in inline] == ["queued", "queued", "rejected"]
    assert [_without_receipt_time(e) for _, e in alone] == [_without_receipt_time(e) for _, e in inline]
    assert [s for s, _ in alone] == [s for s, _ in inline]


def _without_receipt_time(envelope: str) -> str:
    return re.sub(r'"received_at":"[^"]*"', '"received_at":"-"', envelope)


def test_a_broken_pool_under_the_pipeline_falls_back_to_threads(tmp_path: Path) -> None:
    class Broken(ThreadPoolExecutor):
        def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
            raise BrokenExecutor("a worker died")

    pool = Broken()
    try:
        stored = _stored(tmp_path, [make_850(1, "PO-1")], executor=pool, batch_max_bytes=1 << 20)
    finally:
        pool.shutdown()
    assert [state for state, _ in stored] == ["queued"]


def _dies_in_a_worker(profile: Any, data: bytes, options: TranslatorOptions) -> Translation:
    if b"PO-KILL" in data:
        if multiprocessing.parent_process() is not None:  # in a worker, not in this test
            os.kill(os.getpid(), signal.SIGKILL)  # a worker dying as under the OOM killer
        raise RuntimeError("would have killed a worker")
    return _default_translate(profile, data, options)


def test_a_dead_worker_is_replaced_by_a_new_pool_and_no_file_is_lost(tmp_path: Path) -> None:
    first = translation_pool(1)
    made: list[Executor] = []
    reasons: list[str] = []

    def factory() -> Executor:
        made.append(translation_pool(1))
        return made[-1]

    async def main() -> list[str]:
        journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))
        pipe = Pipeline(
            journal,
            registry=lambda: None,
            default_sinks=["out"],
            on_queued=lambda pairs: None,
            translate_fn=_dies_in_a_worker,
            executor=first,
            batch_max_bytes=1 << 20,
            pool_factory=factory,
        )
        try:
            ids = []
            for data in (make_850(1, "PO-KILL"), make_850(2, "PO-BEFORE")):
                ids.append(
                    int(
                        (
                            await journal.append(Intake(transport="directory", data=data, partner="acme"))
                        ).message_id
                    )
                )
            await asyncio.gather(*(pipe.process(mid) for mid in ids))
            # Later files go to the new pool, not to threads.
            assert made and pipe._executor is made[0]
            late = await journal.append(
                Intake(transport="directory", data=make_850(3, "PO-AFTER"), partner="acme")
            )
            await pipe.process(int(late.message_id))
            rows = journal.read_sync(
                lambda c: c.execute("SELECT state, reason FROM messages ORDER BY id").fetchall()
            )
            reasons.extend(str(r[1]) for r in rows)
            return [str(r[0]) for r in rows]
        finally:
            journal.close()

    try:
        states = asyncio.run(main())
    finally:
        first.shutdown()
        for pool in made:
            pool.shutdown()
    # The killer is rejected (it failed on the fallback thread too); the others are queued.
    assert states == ["rejected", "queued", "queued"]
    assert "internal error in the translator (RuntimeError: would have killed a worker)" in reasons[0]
    assert len(made) == 1, "one dead worker, one new pool"


def test_a_batch_that_comes_back_short_fails_its_callers_instead_of_leaving_them_waiting() -> None:
    class Short(ThreadPoolExecutor):
        def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
            return super().submit(lambda: fn(*args, **kwargs)[:-1])

    pool = Short(max_workers=1)

    async def main() -> list[Any]:
        batcher = TranslationBatcher(pool, _default_translate, processes=1)
        calls = [batcher.translate(None, make_850(i, "PO"), TranslatorOptions()) for i in (1, 2)]
        return list(await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 30))

    try:
        outcomes = asyncio.run(main())
    finally:
        pool.shutdown()
    assert all(isinstance(o, RuntimeError) and "came back with" in str(o) for o in outcomes)


def test_each_file_translates_and_encodes_with_the_collector_paused_and_resumed_after() -> None:
    seen: list[bool] = []

    def watching(profile: Any, data: bytes, options: TranslatorOptions) -> Translation:
        seen.append(gc.isenabled())
        return _picky(profile, data, options)

    assert gc.isenabled()
    files = [make_850(1, "PO-FINE"), make_850(2, "PO-BUG"), make_850(3, "PO-SYNTAX")]
    outcomes = translate_many(watching, [(None, f, TranslatorOptions()) for f in files])
    assert seen == [False, False, False]
    # Re-enabled after a success, a crash and a syntax error alike.
    assert gc.isenabled()
    assert [type(o) for o in outcomes] == [type(outcomes[0]), TranslatorCrash, RemoteSyntaxError]
    gc.disable()
    try:
        translate_many(watching, [(None, files[0], TranslatorOptions())])
        assert not gc.isenabled(), "a collector disabled by someone else stays disabled"
    finally:
        gc.enable()


def test_a_document_a_worker_cannot_encode_is_its_own_failure_and_survives_pickling() -> None:

    bad, good = make_850(1, "PO-TUPLEKEY"), make_850(2, "PO-FINE")
    items = [(None, bad, TranslatorOptions()), (None, good, TranslatorOptions())]
    outcome, fine = translate_many(translate_with_unencodable_document, items)
    assert isinstance(outcome, UnencodableDocument)
    assert str(outcome).startswith("TypeError: ")
    assert str(pickle.loads(pickle.dumps(outcome))) == str(outcome)
    assert not isinstance(fine, Exception) and len(fine.encoded) == 1
    # translate_one (a file too large for a batch) raises the same outcome.
    try:
        translate_one(translate_with_unencodable_document, None, bad, TranslatorOptions())
    except UnencodableDocument as exc:
        assert str(exc) == str(outcome)
    else:
        raise AssertionError("translate_one returned a document it could not encode")
    again = translate_one(translate_with_unencodable_document, None, good, TranslatorOptions())
    assert again.encoded == fine.encoded
