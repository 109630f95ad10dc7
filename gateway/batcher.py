"""Small files go to the translation processes many at a time.

A process-pool round trip costs the daemon more than translating one small
file itself: pickling, the pool's feeder and result threads, a future and a
loop wake-up (measured: ~0.35-0.5 ms of the daemon's CPU per call against
0.15-0.3 ms for translating an 850 of one order inline).  So a burst of
small files either kept the event loop busy translating or paid that toll
per file.  The batcher does what the journal's group commit does for
fsyncs: files that arrive while every process is busy go together in the
next call, so a burst costs a round trip per batch.

The workers also encode each document's JSON (sorted keys, as the pipeline
stores it) and send that back instead of the document's dicts and lists:
unpickling a full document in the daemon cost nearly as much as
translating it.  The daemon then only wraps the envelope around the bytes.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from translators.errors import RemoteSyntaxError, TranslationError
from translators.options import TranslatorOptions
from translators.result import Translation

from .envelopes import encode_document
from .workers import collector_paused

TranslateFn = Callable[[Any, bytes, TranslatorOptions], Translation]
#: one file to translate: (profile, raw bytes, options)
Item = tuple[Any, bytes, TranslatorOptions]


@dataclass(frozen=True, slots=True)
class EncodedTranslation:
    """A translation whose documents travel as JSON (made by :func:`encode_translation` only).

    Every document of ``translation`` has its ``encoded`` pair (the JSON of
    its data and of its extensions); its ``document`` and ``extensions`` are
    empty.
    """

    translation: Translation

    @property
    def encoded(self) -> tuple[tuple[bytes, bytes], ...]:
        """Document ``i``'s JSON and its extensions' JSON, at index ``i``."""
        pairs: list[tuple[bytes, bytes]] = []
        for doc in self.translation.documents:
            if doc.encoded is None:  # encode_translation encodes every one: a bug, never guessed
                raise ValueError(f"a {doc.document_type} document travels without its JSON")
            pairs.append(doc.encoded)
        return tuple(pairs)


class TranslatorCrash(RuntimeError):
    """A translator raised something unexpected in a worker; its type and words, picklable."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.kind, self.message))


class UnencodableDocument(TranslatorCrash):
    """A worker could not write a translated document as JSON (a translator bug, told apart)."""


def _encode_in_worker(data: dict[str, Any]) -> bytes:
    """:func:`encode_document`, with a document no JSON can hold told apart from a translator crash."""
    try:
        return encode_document(data)
    except (TypeError, ValueError) as exc:  # orjson.JSONEncodeError is a TypeError
        raise UnencodableDocument(type(exc).__name__, str(exc)) from exc


def encode_translation(translation: Translation) -> EncodedTranslation:
    """``translation`` with every document's data encoded (what a worker sends back).

    X12 and EDIFACT documents arrive encoded already (the translators wrote each one as they made
    it); the others (CSV, fixed width, XML) are encoded here.

    Raises:
        UnencodableDocument: a document no JSON can hold.
    """
    documents = tuple(
        doc
        if doc.encoded is not None
        else dataclasses.replace(
            doc,
            document={},
            extensions={},
            encoded=(_encode_in_worker(doc.document), _encode_in_worker(doc.extensions)),
        )
        for doc in translation.documents
    )
    return EncodedTranslation(dataclasses.replace(translation, documents=documents))


def translate_many(fn: TranslateFn, items: Sequence[Item]) -> list[EncodedTranslation | Exception]:
    """Translate each file (in a worker); one file's failure is its own, the others go on."""
    out: list[EncodedTranslation | Exception] = []
    for profile, data, options in items:
        try:
            with collector_paused():
                # Each document is encoded as the translator makes it: a file's documents never
                # all exist as objects at once (see translators/documents.py).
                translation = fn(profile, data, dataclasses.replace(options, encoder=_encode_in_worker))
                out.append(encode_translation(translation))
        except (RemoteSyntaxError, TranslationError, UnencodableDocument) as exc:
            out.append(exc)
        except Exception as exc:  # noqa: BLE001 - a translator bug: the pipeline rejects this file with it
            out.append(TranslatorCrash(type(exc).__name__, str(exc)))
    return out


def translate_one(
    fn: TranslateFn, profile: Any, data: bytes, options: TranslatorOptions
) -> EncodedTranslation:
    """:func:`translate_many` for one file too large to share a batch; its failure is raised."""
    (outcome,) = translate_many(fn, [(profile, data, options)])
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


class TranslationBatcher:
    """Hands files to the translation processes in batches, at most ``processes`` batches at a time.

    Args:
        executor: the translation process pool.
        fn: the translation (``partners.translate_with_profile``); must be picklable.
        processes: batches in flight at once (one per process keeps each busy).
        max_items: files per batch at most.
        max_bytes: raw bytes per batch at most (one larger file still goes alone).
    """

    def __init__(
        self,
        executor: Executor,
        fn: TranslateFn,
        *,
        processes: int,
        max_items: int = 64,
        max_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self._executor = executor
        self._fn = fn
        self._limit = max(1, processes)
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._pending: collections.deque[tuple[Item, asyncio.Future[EncodedTranslation]]] = (
            collections.deque()
        )
        self._in_flight = 0

    async def translate(self, profile: Any, data: bytes, options: TranslatorOptions) -> EncodedTranslation:
        """Translate one file in the next batch.

        Raises:
            RemoteSyntaxError, TranslationError: as the translator raised them.
            TranslatorCrash: the translator failed in an unexpected way.
            BrokenExecutor: the pool is broken (a worker died).
        """
        future: asyncio.Future[EncodedTranslation] = asyncio.get_running_loop().create_future()
        self._pending.append(((profile, data, options), future))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending and self._in_flight < self._limit:
            batch = self._take()
            if not batch:
                continue
            try:
                call = loop.run_in_executor(self._executor, translate_many, self._fn, [i for i, _ in batch])
            except Exception as exc:  # noqa: BLE001 - a broken or shut-down pool: every caller hears it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self._in_flight += 1
            call.add_done_callback(functools.partial(self._settle, batch))

    def _take(self) -> list[tuple[Item, asyncio.Future[EncodedTranslation]]]:
        """The next batch of pending files whose callers still wait."""
        batch: list[tuple[Item, asyncio.Future[EncodedTranslation]]] = []
        size = 0
        while self._pending and len(batch) < self._max_items:
            item, future = self._pending[0]
            if future.done():  # the caller was cancelled (shutdown)
                self._pending.popleft()
                continue
            if batch and size + len(item[1]) > self._max_bytes:
                break
            self._pending.popleft()
            batch.append((item, future))
            size += len(item[1])
        return batch

    def _settle(
        self, batch: list[tuple[Item, asyncio.Future[EncodedTranslation]]], done: asyncio.Future[Any]
    ) -> None:
        # A done-callback: whatever goes wrong here must reach the callers, or they would wait forever.
        self._in_flight -= 1
        if done.cancelled():
            for _, future in batch:
                future.cancel()
            self._dispatch()
            return
        exc = done.exception()
        outcomes: list[Any] = [] if exc is not None else list(done.result())
        if exc is None and len(outcomes) != len(batch):
            exc = RuntimeError(
                f"translation batch of {len(batch)} files came back with {len(outcomes)} outcomes"
            )
        for i, (_, future) in enumerate(batch):
            if future.done():
                continue
            outcome = exc if exc is not None else outcomes[i]
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        self._dispatch()


__all__ = [
    "EncodedTranslation",
    "TranslationBatcher",
    "TranslatorCrash",
    "UnencodableDocument",
    "encode_translation",
    "translate_many",
    "translate_one",
]
