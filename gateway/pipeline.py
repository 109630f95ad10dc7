"""The pipeline: from a received message to queued deliveries.

For each message in state ``received`` it:

1. finds the partner (inbox/account/AS2 name first, else the envelope IDs);
2. translates the raw bytes with that partner's profile (pure translators,
   run on a worker thread so the event loop keeps answering partners);
3. applies the partner's duplicate-interchange policy;
4. wraps each document in the canonical envelope with its idempotency key;
5. stores documents, acknowledgments and deliveries in one journal operation
   and hands the deliveries to the delivery engine.

Anything that goes wrong with the *input* rejects the message with a reason
a person can act on; the raw bytes stay in the journal and the message can
be replayed once the cause is fixed.  A bug (any other exception) also
rejects the message, saying so, rather than losing it or looping.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import BrokenExecutor, Executor
from dataclasses import dataclass
from typing import Any, Protocol

from translators import (
    ControlNumbers,
    RemoteSyntaxError,
    TranslatedDocument,
    Translation,
    TranslationError,
    TranslatorOptions,
    peek_ids,
    translate,
)

from .batcher import TranslationBatcher, TranslatorCrash, UnencodableDocument, translate_one
from .envelopes import encode_document, encode_envelope
from .errors import JournalWriteError, UnknownMessageError
from .journal import DocumentRecord, DuplicateRule, Journal
from .states import MessageState

log = logging.getLogger("edigate.pipeline")

#: first and longest wait before an acknowledgment whose write failed is written again
_ACK_RETRY_FIRST = 1.0
_ACK_RETRY_MAX = 60.0


class ProfileLike(Protocol):
    """What the pipeline needs from a partner profile (``partners.Profile``)."""

    @property
    def id(self) -> str: ...

    @property
    def sinks(self) -> tuple[str, ...]: ...

    @property
    def duplicate_policy(self) -> str: ...

    @property
    def duplicate_window_days(self) -> int: ...

    def translator_options(
        self, *, now: _dt.datetime, control_numbers: ControlNumbers
    ) -> TranslatorOptions: ...


class RegistryLike(Protocol):
    """What the pipeline needs from the partner registry (``partners.Registry``)."""

    def get(self, partner_id: str) -> Any: ...

    def by_inbox(self, folder_name: str) -> Any: ...

    def identify_interchange(
        self,
        standard: str,
        sender_qualifier: str | None,
        sender_id: str,
        receiver_qualifier: str | None,
        receiver_id: str | None,
    ) -> Any: ...


TranslateFn = Callable[[Any, bytes, TranslatorOptions], Translation]
AckSink = Callable[[str, int, Sequence[tuple[str, bytes]]], Awaitable[None]]


def _default_translate(profile: Any, data: bytes, options: TranslatorOptions) -> Translation:
    return translate(data, options)


@dataclass(slots=True)
class PipelineStats:
    """Counters for status and metrics."""

    translated: int = 0
    rejected: int = 0
    documents: int = 0
    errors: int = 0
    last_error: str | None = None


class _ByteBudget:
    """At most ``limit`` bytes of raw files in flight; one file alone may exceed it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._freed: asyncio.Condition | None = None

    @contextlib.asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[None]:
        if self._freed is None:
            self._freed = asyncio.Condition()
        freed = self._freed
        if self.used + size > self.limit and self.used > 0:
            async with freed:
                await freed.wait_for(lambda: self.used == 0 or self.used + size <= self.limit)
        self.used += size
        try:
            yield
        finally:
            self.used -= size
            async with freed:
                freed.notify_all()


def idempotency_key(partner: str, doc: TranslatedDocument, canonical_json: bytes) -> str:
    """partner + interchange/group/transaction control numbers + content hash.

    Stable across retries, restarts and replays of the same bytes, different
    for a re-sent interchange with new control numbers.
    """
    env = doc.envelope
    digest = hashlib.sha256(canonical_json).hexdigest()[:20]
    parts = [
        partner,
        env.standard,
        env.sender_id or "-",
        env.interchange_control or "-",
        env.group_control or "-",
        env.transaction_control or "-",
        digest,
    ]
    return ":".join(p.strip().replace(":", "_") for p in parts)


class Pipeline:
    """Translates received messages and queues their deliveries.

    Args:
        journal: the journal.
        registry: returns the current partner registry snapshot (or None
            when no profiles are loaded).
        default_sinks: sinks for partners whose profile names none.
        on_queued: called with (delivery_id, sink) pairs once committed.
        on_acks: called to hand acknowledgments to the partner.
        translate_fn: ``partners.translate_with_profile`` (injectable).
        workers: messages in flight at once (they share journal commits).
        executor: where translations run; a process pool spreads them over
            the cores (translators are pure, so they need nothing but their
            arguments); None runs them on threads.
        clock: wall clock.
        max_inflight_bytes: raw bytes of the messages being translated at once.
        inline_max_bytes: files up to this size translate on the event loop:
            for a small file the round trip to a worker (pickling, pool
            threads, the GIL they hold) costs several times the translation.
    """

    def __init__(
        self,
        journal: Journal,
        *,
        registry: Callable[[], RegistryLike | None],
        default_sinks: Sequence[str],
        on_queued: Callable[[list[tuple[int, str]]], None],
        on_acks: AckSink | None = None,
        translate_fn: TranslateFn | None = None,
        workers: int = 2,
        executor: Executor | None = None,
        clock: Callable[[], float] = time.time,
        max_inflight_bytes: int = 256 * 1024 * 1024,
        inline_max_bytes: int = 0,
        batch_max_bytes: int = 0,
        processes: int = 1,
        pool_factory: Callable[[], Executor] | None = None,
    ) -> None:
        self.journal = journal
        self._registry = registry
        self.default_sinks = tuple(default_sinks)
        #: names the delivery engine knows; None = do not check
        self.known_sinks: frozenset[str] | None = None
        self._on_queued = on_queued
        self._on_acks = on_acks
        self._translate = translate_fn or _default_translate
        self._workers = workers
        self._executor = executor
        self._inline_max = inline_max_bytes
        self._processes = processes
        self._batch_max = batch_max_bytes
        self._pool_factory = pool_factory
        self._batcher: TranslationBatcher | None = None
        self._use_executor(executor)
        self._clock = clock
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._pending: set[int] = set()
        self.stats = PipelineStats()
        self.in_flight = 0
        self._budget = _ByteBudget(max_inflight_bytes)
        #: acknowledgments being written; a message's translation does not wait for them
        self._ack_tasks: set[asyncio.Task[None]] = set()
        #: acknowledgments whose write failed, tried again after ``_ack_retry_delay``
        self._ack_retry: list[tuple[str, int, list[tuple[str, bytes]]]] = []
        self._ack_retry_handle: asyncio.TimerHandle | None = None
        self._ack_retry_delay = _ACK_RETRY_FIRST

    def submit(self, message_id: int) -> None:
        """Queue a received message for translation."""
        if message_id not in self._pending:
            self._pending.add(message_id)
            self._queue.put_nowait(message_id)

    def backlog(self) -> int:
        """Messages waiting or being translated."""
        return len(self._pending)

    async def resume(self) -> int:
        """Queue every message a previous run left unfinished."""
        ids = await self.journal.unfinished_messages()
        for mid in ids:
            self.submit(mid)
        return len(ids)

    async def run(self) -> None:
        """Translate until cancelled."""
        async with asyncio.TaskGroup() as tg:
            for _ in range(self._workers):
                tg.create_task(self._worker())

    async def idle(self) -> None:
        """Wait until nothing is queued or in flight (acknowledgments being written included)."""
        await self._queue.join()
        while self._ack_tasks:
            await asyncio.gather(*self._ack_tasks, return_exceptions=True)

    async def _worker(self) -> None:
        while True:
            mid = await self._queue.get()
            self.in_flight += 1
            try:
                # Many workers keep the journal's batches full; the byte budget
                # keeps a burst of large files from holding them all in memory.
                async with self._budget.hold(self.journal.message_size(mid)):
                    await self.process(mid)
            except JournalWriteError:
                raise
            except (UnknownMessageError, ValueError) as exc:
                # Purged or already moved on by a replay race: nothing to do.
                log.warning("message %s skipped: %s", mid, exc)
            finally:
                self.in_flight -= 1
                self._pending.discard(mid)
                self._queue.task_done()

    async def process(self, message_id: int) -> None:
        """Translate one message and queue its deliveries (or reject it)."""
        row, data = await self.journal.message_with_bytes(message_id)
        if MessageState(row["state"]) is not MessageState.RECEIVED:
            return
        registry = self._registry()
        partner_hint: str | None = row["partner"]
        profile, problem = self._identify(registry, partner_hint, data)
        if profile is None and problem is not None:
            await self._reject(message_id, problem, partner=partner_hint)
            return
        partner = profile.id if profile is not None else (partner_hint or "unknown")
        now = self._clock()
        options = await self._options(profile, partner, now)
        try:
            translation, encoded = await self._run_translation(profile, data, options)
        except RemoteSyntaxError as exc:
            await self._reject(message_id, str(exc), partner=partner)
            return
        except TranslationError as exc:
            await self._reject(message_id, f"translation failed: {exc}", partner=partner)
            return
        except UnencodableDocument as exc:
            await self._reject_unencodable(message_id, partner, str(exc))
            return
        except Exception as exc:
            log.exception("translator crashed on message %s", message_id, extra={"message_id": message_id})
            self.stats.errors += 1
            # A crash in a worker arrives as TranslatorCrash, already "Type: words".
            detail = str(exc) if isinstance(exc, TranslatorCrash) else f"{type(exc).__name__}: {exc}"
            await self._reject(
                message_id,
                f"internal error in the translator ({detail}); please report it; replay after upgrading",
                partner=partner,
            )
            return
        ack_pairs = [(f"ack-{i}-{a.kind}", a.payload) for i, a in enumerate(translation.acks)]
        if translation.rejected or (not translation.documents and translation.errors):
            reason = translation.reason or "rejected by the translator"
            await self._reject(
                message_id, reason, partner=partner, standard=translation.standard, replies=dict(ack_pairs)
            )
            self._send_acks_soon(partner, message_id, ack_pairs)
            return
        sinks = list(profile.sinks) if profile is not None and profile.sinks else list(self.default_sinks)
        unknown = [n for n in sinks if self.known_sinks is not None and n not in self.known_sinks]
        if unknown:
            await self._reject(
                message_id,
                f"partner {partner} routes to sink(s) {', '.join(unknown)}, which are "
                "not configured; fix the profile's routing or the config, then replay",
                partner=partner,
                standard=translation.standard,
            )
            return
        if not sinks and translation.documents:
            await self._reject(
                message_id,
                f"no sink is configured for partner {partner}; "
                "set [gateway] default_sinks or the profile's sinks",
                partner=partner,
            )
            return
        received_at = _dt.datetime.fromtimestamp(float(row["received_at"]), tz=_dt.UTC)
        try:
            records = [
                self._record(
                    doc,
                    partner,
                    message_id,
                    row,
                    received_at,
                    encoded=None if encoded is None else encoded[i],
                )
                for i, doc in enumerate(translation.documents)
            ]
        except (TypeError, ValueError) as exc:
            log.exception(
                "document of message %s cannot be encoded", message_id, extra={"message_id": message_id}
            )
            await self._reject_unencodable(message_id, partner, f"{type(exc).__name__}: {exc}")
            return
        warnings = [w for doc in translation.documents for w in doc.warnings]
        warnings += [str(e) for e in translation.errors]
        interchanges = sorted(_interchanges(translation))
        policy = getattr(profile, "duplicate_policy", "reject") if profile is not None else "reject"
        # The writer looks for the earlier interchange in the storing
        # transaction: no read on the event loop (each waited for the GIL).
        window = float(getattr(profile, "duplicate_window_days", 30)) * 86400
        stored = await self.journal.store_translation_once(
            message_id,
            duplicate=None if policy == "accept" else DuplicateRule(policy=policy, since=now - window),
            partner=partner,
            standard=translation.standard,
            documents=records,
            sinks=sinks,
            replies=dict(ack_pairs),
            interchanges=interchanges,
            warnings="; ".join(warnings)[:2000] or None,
        )
        if stored.rejected is not None:
            self.stats.rejected += 1
            self.stats.last_error = stored.rejected
            log.warning("rejected: %s", stored.rejected, extra={"message_id": message_id, "partner": partner})
            return
        delivery_ids = stored.delivery_ids
        self.stats.translated += 1
        self.stats.documents += len(records)
        if delivery_ids:
            per_doc = len(sinks)
            self._on_queued([(d, sinks[i % per_doc]) for i, d in enumerate(delivery_ids)])
        self._send_acks_soon(partner, message_id, ack_pairs)
        log.info(
            "translated into %d document(s)",
            len(records),
            extra={"message_id": message_id, "partner": partner},
        )

    def _use_executor(self, executor: Executor | None) -> None:
        self._executor = executor
        self._batcher = (
            TranslationBatcher(executor, self._translate, processes=self._processes)
            if executor is not None and self._batch_max > 0
            else None
        )

    def _replace_broken(self, broken: Executor) -> None:
        """A worker died: start a new pool (once per broken one) so later files are not all on threads."""
        if self._pool_factory is None or broken is not self._executor:
            return
        broken.shutdown(wait=False, cancel_futures=True)
        try:
            self._use_executor(self._pool_factory())
        except OSError as exc:
            # No new processes (out of memory, pid limit): translate on threads from now on.
            log.error("cannot start new translation workers (%s); translating on threads", exc)
            self._use_executor(None)
            return
        log.warning("translation worker pool replaced after a worker died")

    async def _run_translation(
        self, profile: Any, data: bytes, options: TranslatorOptions
    ) -> tuple[Translation, tuple[tuple[bytes, bytes], ...] | None]:
        """The translation, and its documents' JSON when a worker encoded it already."""
        if len(data) <= self._inline_max:
            # Bounded by the size limit: translators are linear in their input,
            # so this holds the loop for a few milliseconds at most.
            return self._translate(profile, data, options), None
        if self._executor is None:
            return await asyncio.to_thread(self._translate, profile, data, options), None
        loop = asyncio.get_running_loop()
        executor = self._executor
        try:
            if self._batcher is not None and len(data) <= self._batch_max:
                done = await self._batcher.translate(profile, data, options)
                return done.translation, done.encoded
            # Encoded in the worker too: unpickling a large file's documents in the daemon cost
            # about what translating them did, on the one core the event loop has.
            done = await loop.run_in_executor(
                executor, translate_one, self._translate, profile, data, options
            )
            return done.translation, done.encoded
        except BrokenExecutor:
            # A worker died (killed, or a translator crashed the interpreter):
            # this message goes to a thread rather than wedge, and later ones to a new pool.
            log.error("translation worker pool broke; translating on a thread instead")
            self._replace_broken(executor)
            return await asyncio.to_thread(self._translate, profile, data, options), None

    async def _reject_unencodable(self, message_id: int, partner: str, detail: str) -> None:
        # A document no JSON can hold is a translator bug: this file is rejected, the pipeline goes on.
        self.stats.errors += 1
        await self._reject(
            message_id,
            f"internal error: a translated document cannot be written as JSON ({detail}); "
            "please report it; replay after upgrading",
            partner=partner,
        )

    def _identify(
        self, registry: RegistryLike | None, hint: str | None, data: bytes
    ) -> tuple[Any, str | None]:
        if registry is None:
            # No profiles loaded: the inbox name is the partner (foundation mode).
            return (None, None) if hint else (None, "unknown partner: no partner profiles are loaded")
        if hint:
            profile = registry.get(hint) or registry.by_inbox(hint)
            if profile is not None:
                return profile, None
        ids = peek_ids(data)
        if ids is not None:
            profile = registry.identify_interchange(
                ids.standard, ids.sender_qualifier, ids.sender_id, ids.receiver_qualifier, ids.receiver_id
            )
            if profile is not None:
                return profile, None
            q = f"{ids.sender_qualifier}:" if ids.sender_qualifier else ""
            rq = f"{ids.receiver_qualifier}:" if ids.receiver_qualifier else ""
            return None, (
                f"unknown partner: no profile has {ids.standard.upper()} sender {q}{ids.sender_id} "
                f"(receiver {rq}{ids.receiver_id})" + (f", inbox {hint}" if hint else "")
            )
        if hint:
            return None, f"unknown partner: no profile for inbox/account {hint!r}"
        return None, "unknown partner: the file has no envelope IDs and came from no known account"

    async def _options(self, profile: Any, partner: str, now: float) -> TranslatorOptions:
        stamp = _dt.datetime.fromtimestamp(now, tz=_dt.UTC)
        # One durable counter per message: acks we generate never reuse an
        # ISA13/GS06 (or UNB 0020) for this partner, even across crashes.
        number = await self.journal.next_control_number(partner, "out", "ack")
        control = ControlNumbers(interchange=number, group=number, transaction=1)
        if profile is not None:
            opts: TranslatorOptions = profile.translator_options(now=stamp, control_numbers=control)
            return opts
        return TranslatorOptions(now=stamp, control_numbers=control)

    def _record(
        self,
        doc: TranslatedDocument,
        partner: str,
        message_id: int,
        row: Any,
        received_at: _dt.datetime,
        *,
        encoded: tuple[bytes, bytes] | None,
    ) -> DocumentRecord:
        canonical, extensions = encoded if encoded is not None else (encode_document(doc.document), None)
        key = idempotency_key(partner, doc, canonical)
        return DocumentRecord(
            idempotency_key=key,
            document_type=doc.document_type,
            envelope_json=encode_envelope(
                doc=doc,
                document_json=canonical,
                extensions_json=extensions,
                idempotency_key=key,
                message_id=message_id,
                partner=partner,
                received_at=received_at,
                transport=str(row["transport"]),
                file_name=row["file_name"],
                raw_sha256=str(row["sha256"]),
            ),
        )

    async def _reject(
        self,
        message_id: int,
        reason: str,
        *,
        partner: str | None,
        standard: str | None = None,
        replies: dict[str, bytes] | None = None,
    ) -> None:
        self.stats.rejected += 1
        self.stats.last_error = reason
        await self.journal.reject(message_id, reason, partner=partner, standard=standard, replies=replies)
        log.warning("rejected: %s", reason, extra={"message_id": message_id, "partner": partner})

    async def _send_acks(self, partner: str, message_id: int, acks: list[tuple[str, bytes]]) -> None:
        if acks and self._on_acks is not None:
            await self._on_acks(partner, message_id, acks)
            self.journal.replies_sent(message_id)

    def _send_acks_soon(self, partner: str, message_id: int, acks: list[tuple[str, bytes]]) -> None:
        """Write a message's acknowledgments without holding its translation slot.

        They are already in the journal (stored with the translation, marked
        sent once written): a crash before the write is answered by
        :meth:`resend_acks` at the next start, and a failed write is tried
        again here, with a growing delay, while the gateway runs.  Waiting
        for the write (a shared flush) held a translation slot for a third of
        its time under a burst.
        """
        if not acks or self._on_acks is None:
            return
        task = asyncio.get_running_loop().create_task(self._write_acks_once(partner, message_id, acks))
        self._ack_tasks.add(task)
        task.add_done_callback(self._ack_tasks.discard)

    async def _write_acks_once(self, partner: str, message_id: int, acks: list[tuple[str, bytes]]) -> None:
        try:
            await self._send_acks(partner, message_id, acks)
        except OSError as exc:
            self.stats.last_error = f"acknowledgments of message {message_id} not written: {exc}"
            log.error(
                "acknowledgments not written (tried again in %.0f s): %s",
                self._ack_retry_delay,
                exc,
                extra={"message_id": message_id, "partner": partner},
            )
            self._ack_retry.append((partner, message_id, acks))
            if self._ack_retry_handle is None:
                self._ack_retry_handle = asyncio.get_running_loop().call_later(
                    self._ack_retry_delay, self._retry_acks
                )
                self._ack_retry_delay = min(self._ack_retry_delay * 2, _ACK_RETRY_MAX)
            return
        self._ack_retry_delay = _ACK_RETRY_FIRST

    def _retry_acks(self) -> None:
        self._ack_retry_handle = None
        owed, self._ack_retry = self._ack_retry, []
        for partner, message_id, acks in owed:
            self._send_acks_soon(partner, message_id, acks)

    def stop_ack_retries(self) -> int:
        """Give up retrying failed acknowledgment writes (shutdown); returns how many were owed.

        They stay unsent in the journal, and the next start sends them.
        """
        if self._ack_retry_handle is not None:
            self._ack_retry_handle.cancel()
            self._ack_retry_handle = None
        owed = len(self._ack_retry)
        self._ack_retry = []
        return owed

    async def resend_acks(self) -> int:
        """Send the acknowledgments a crash kept from the partner after their commit.

        Returns:
            How many messages' acknowledgments were sent.
        """
        owed = await self.journal.unsent_replies()
        gate = asyncio.Semaphore(16)

        async def resend(message_id: int, partner: str, acks: list[tuple[str, bytes]]) -> bool:
            async with gate:
                try:
                    await self._send_acks(partner, message_id, acks)
                except OSError as exc:
                    log.error(
                        "acknowledgments of message %s still not sent (tried again at the next start): %s",
                        message_id,
                        exc,
                        extra={"message_id": message_id, "partner": partner},
                    )
                    return False
                return True

        sent = sum(await asyncio.gather(*(resend(*item) for item in owed)))
        if owed:
            log.warning(
                "sent the acknowledgments of %d of %d message(s) an interrupted run owed", sent, len(owed)
            )
        return sent


def _interchanges(translation: Translation) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for doc in translation.documents:
        env = doc.envelope
        if env.interchange_control:
            sender = f"{env.sender_qualifier or ''}:{env.sender_id or ''}"
            found.add((sender, env.interchange_control))
    return found


__all__ = ["Pipeline", "PipelineStats", "ProfileLike", "RegistryLike", "idempotency_key"]
