"""The NATS downlink: a durable JetStream pull consumer that brings documents to the site.

Strategy (the promise "nothing accepted is lost", applied to a pull):

* The cloud publishes each document for this site to
  ``<prefix>.<site>.outbound.<partner>.<document>``; a durable pull consumer
  (explicit acks, owned by the cloud side, see ``nats_deployment.md``) hands
  them out in batches of ``batch``.
* Each message is journaled (:meth:`gateway.journal.Journal.append`, which
  returns only after fsync) and only then ACKed.  A crash between fetch and
  journal leaves the message unacknowledged: JetStream redelivers it after
  ``ack_wait``.  A crash between journal and ack redelivers it too, and the
  journal answers with the earlier row (``external_id`` = ``Nats-Msg-Id``, or
  ``<stream>:<sequence>`` when the publisher set none), so the document is
  handed on once.
* The journaled bytes are canonical JSON in the shape of
  ``gateway.outbound.outbound_message`` (``schema = "edigate.outbound/1"``,
  sorted keys) so partner delivery can treat a NATS document like an Odoo one.
* A full disk (:class:`~gateway.errors.DiskFloorError`) NAKs with a delay: the
  message stays in the stream.  A poison message (not JSON, no document,
  unknown partner, subject and body disagree) is journaled as rejected
  evidence with the reason and then TERMed, so it is neither lost silently
  nor redelivered forever.  A journal write failure stops the consumer
  without acking (fail-stop).
* Link failures (outage, refused certificate, missing consumer) never stop
  the daemon: they are logged, shown in :meth:`NatsDownlink.status` and retried
  with backoff, because intake from partners must go on meanwhile.

Test hook: ``EDIGATE_NATS_DOWNLINK_TEST_PAUSE=<point>:<file>`` with point
``fetched`` (before the journal) or ``journaled`` (after it, before the ack)
makes the consumer write ``<file>`` and wait forever at that point, so a test
can SIGKILL the process there.  It is read once, at construction.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from agent.errors import DeliveryError, PermanentDeliveryError
from agent.sinks.nats import NatsDownlinkSettings, NatsLink, NatsSinkConfig, map_exception, subject_token
from gateway.errors import DiskFloorError, JournalWriteError, MessageTooLargeError
from gateway.journal import AppendResult, Intake, Journal

log = logging.getLogger("edigate.downlink.nats")

#: ``schema`` of the journaled bytes (the same as ``gateway.outbound.OUTBOUND_SCHEMA``).
OUTBOUND_SCHEMA = "edigate.outbound/1"
#: journal ``transport`` of downlink messages
TRANSPORT = "nats"
#: environment variable of the test hook (see the module docstring)
TEST_PAUSE_ENV = "EDIGATE_NATS_DOWNLINK_TEST_PAUSE"
#: longest wait between attempts when the link or the consumer is unavailable
MAX_BACKOFF = 30.0

#: True while the downlink's own ``journal.append`` runs: the daemon's
#: ``on_received`` router reads it to keep these messages away from the inbound
#: EDI pipeline (they are canonical JSON for partner delivery, not partner EDI).
DOWNLINK_APPEND: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "edigate_downlink_append", default=False
)


class PoisonMessage(ValueError):
    """A message no retry can make acceptable; ``partner`` is the claimed one, if any."""

    def __init__(self, reason: str, *, partner: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.partner = partner


@dataclass(frozen=True, slots=True, kw_only=True)
class DownlinkDocument:
    """A valid downlink message, ready to journal."""

    partner: str
    document_type: str
    data: bytes


@dataclass(slots=True)
class DownlinkStats:
    """Counters for ``edigate status``."""

    fetched: int = 0
    journaled: int = 0
    duplicates: int = 0
    rejected: int = 0
    naks: int = 0
    acked: int = 0
    last_error: str | None = None


def external_id(msg: Msg) -> str:
    """``Nats-Msg-Id`` when the publisher set it, else ``<stream>:<stream sequence>``."""
    msg_id = (msg.headers or {}).get("Nats-Msg-Id")
    if msg_id:
        return str(msg_id)
    meta = msg.metadata
    return f"{meta.stream}:{meta.sequence.stream}"


def parse_document(
    subject: str,
    data: bytes,
    *,
    subject_prefix: str,
    site: str,
    known_partner: Callable[[str], bool],
    origin: dict[str, Any],
) -> DownlinkDocument:
    """Check one downlink message and build the canonical bytes to journal.

    Args:
        subject: ``<prefix>.<site>.outbound.<partner>.<document>``.
        data: the message body: a JSON object with ``document`` (object) and
            optionally ``partner``, ``document_type`` and ``origin``.
        subject_prefix: first subject token.
        site: this site's token.
        known_partner: whether a partner id has a profile.
        origin: where it came from (stream, sequence, message id), kept in the bytes.

    Returns:
        The document.

    Raises:
        PoisonMessage: with a plain reason.
    """
    tokens = subject.split(".")
    if len(tokens) != 5 or tokens[0] != subject_prefix or tokens[1] != site or tokens[2] != "outbound":
        raise PoisonMessage(f"subject {subject} is not {subject_prefix}.{site}.outbound.<partner>.<document>")
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonMessage(f"invalid JSON: {exc}", partner=tokens[3]) from exc
    if not isinstance(body, dict):
        raise PoisonMessage("invalid message: the JSON is not an object", partner=tokens[3])
    partner = body.get("partner", tokens[3])
    document_type = body.get("document_type", tokens[4])
    if not isinstance(partner, str) or not isinstance(document_type, str):
        raise PoisonMessage("invalid message: partner and document_type must be strings", partner=tokens[3])
    if subject_token(partner) != tokens[3] or subject_token(document_type) != tokens[4]:
        raise PoisonMessage(
            f"the subject names {tokens[3]}/{tokens[4]} but the body names {partner}/{document_type}",
            partner=tokens[3],
        )
    document = body.get("document")
    if not isinstance(document, dict):
        raise PoisonMessage("invalid message: no 'document' object", partner=partner)
    if not known_partner(partner):
        raise PoisonMessage(f"unknown partner {partner!r}: no profile in partners.d", partner=partner)
    extra_origin = body.get("origin")
    canonical = {
        "schema": OUTBOUND_SCHEMA,
        "partner": partner,
        "document_type": document_type,
        "document": document,
        "origin": {**(extra_origin if isinstance(extra_origin, dict) else {}), **origin},
    }
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str).encode()
    return DownlinkDocument(partner=partner, document_type=document_type, data=blob)


@contextlib.contextmanager
def _downlink_append() -> Iterator[None]:
    token = DOWNLINK_APPEND.set(True)
    try:
        yield
    finally:
        DOWNLINK_APPEND.reset(token)


class NatsDownlink:
    """Pulls documents for this site, journals them, acks them.

    Args:
        config: the nats sink settings whose ``downlink`` table is set.
        journal: the journal.
        known_partner: whether a partner id has a profile (the registry's ``get``).
        on_journaled: called with the message id of each newly journaled
            document: the hand-off to partner delivery (``gateway/outbound.py``).
        link: an existing link (tests); default: a new one from ``config``.

    Raises:
        ValueError: ``config.downlink`` is not set.
        TlsConfigError: our certificate files cannot be used.
    """

    def __init__(
        self,
        config: NatsSinkConfig,
        journal: Journal,
        *,
        known_partner: Callable[[str], bool],
        on_journaled: Callable[[int], None] | None = None,
        link: NatsLink | None = None,
    ) -> None:
        if config.downlink is None:
            raise ValueError(f"sink {config.name}: no [sinks.downlink] table")
        self.config = config
        self.settings: NatsDownlinkSettings = config.downlink
        self.journal = journal
        self.known_partner = known_partner
        self.on_journaled = on_journaled
        self.link = link or NatsLink(config, role="downlink")
        site = config.site_token
        self.durable = self.settings.durable or f"edigate-{site}"
        self.filter_subject = self.settings.filter_subject or f"{config.subject_prefix}.{site}.outbound.*.*"
        self.name = f"{config.name}-downlink"
        self.stats = DownlinkStats()
        self._stopping = False
        self._pause = _read_pause_hook()

    def status(self) -> dict[str, Any]:
        """Figures for ``edigate status``."""
        s = self.stats
        return {
            "name": self.name,
            "connected": self.link.connected,
            "stream": self.settings.stream,
            "consumer": self.durable,
            "fetched": s.fetched,
            "journaled": s.journaled,
            "duplicates": s.duplicates,
            "rejected": s.rejected,
            "naks": s.naks,
            "acked": s.acked,
            "last_error": s.last_error,
        }

    def stop(self) -> None:
        """Finish the batch in hand and return from :meth:`run`."""
        self._stopping = True

    async def run(self) -> None:
        """Fetch, journal and ack until stopped or cancelled.

        Raises:
            JournalWriteError: the journal failed (fail-stop; nothing was acked).
        """
        backoff = 1.0
        try:
            while not self._stopping:
                try:
                    sub = await self._subscribe()
                    while not self._stopping:
                        try:
                            msgs = await sub.fetch(self.settings.batch, timeout=self.settings.fetch_timeout)
                        except nats.errors.TimeoutError:
                            continue  # nothing waiting: fetch again
                        backoff = 1.0
                        await self.handle_batch(msgs)
                except DeliveryError as exc:
                    await self._link_failed(exc.message, permanent=isinstance(exc, PermanentDeliveryError))
                except JournalWriteError:
                    raise
                except (OSError, nats.errors.Error) as exc:
                    mapped = map_exception(exc, where=", ".join(self.config.servers))
                    await self._link_failed(
                        mapped.message, permanent=isinstance(mapped, PermanentDeliveryError)
                    )
                else:
                    continue
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
        finally:
            await self.link.close()

    async def _link_failed(self, reason: str, *, permanent: bool) -> None:
        self.stats.last_error = reason
        if permanent:
            log.error("nats downlink %s cannot fetch (retrying; fix the cause): %s", self.name, reason)
        else:
            log.warning("nats downlink %s: %s", self.name, reason)

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        js = await self.link.jetstream()
        stream = self.settings.stream
        try:
            await js.consumer_info(stream, self.durable)
        except nats.js.errors.NotFoundError as exc:
            if not self.settings.ensure_consumer:
                raise PermanentDeliveryError(
                    f"consumer {self.durable} not found on stream {stream}: the cloud side creates it "
                    "(agent/downlink/nats_deployment.md), or set ensure_consumer = true"
                ) from exc
            await js.add_consumer(
                stream,
                ConsumerConfig(
                    durable_name=self.durable,
                    filter_subject=self.filter_subject,
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=self.settings.ack_wait,
                    max_deliver=-1,
                ),
            )
            log.info("created consumer %s on %s", self.durable, stream)
        except (nats.errors.TimeoutError, nats.js.errors.APIError) as exc:
            raise map_exception(exc, where=", ".join(self.config.servers)) from exc
        sub = await js.pull_subscribe_bind(durable=self.durable, stream=stream)
        self.stats.last_error = None
        log.info("nats downlink %s pulling %s from %s", self.name, self.filter_subject, stream)
        return sub

    async def handle_batch(self, msgs: list[Msg]) -> None:
        """Journal a fetched batch (one shared fsync) and ack each message after its append.

        Raises:
            JournalWriteError: fail-stop; the remaining messages stay unacked.
        """
        self.stats.fetched += len(msgs)
        await self._pause_at("fetched", msgs)
        results = await asyncio.gather(*(self._journal_one(m) for m in msgs), return_exceptions=True)
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None:
            raise failure
        done = [(m, r) for m, r in zip(msgs, results, strict=True) if r is not None]
        await self._pause_at("journaled", [m for m, _ in done])
        for msg, settle in done:
            assert not isinstance(settle, BaseException)
            await settle(msg)

    async def _journal_one(self, msg: Msg) -> Callable[[Msg], Any] | None:
        """Journal one message; returns how to settle it with the server, or None when NAKed."""
        ext = external_id(msg)
        meta = msg.metadata
        origin = {
            "transport": TRANSPORT,
            "subject": msg.subject,
            "stream": meta.stream,
            "stream_seq": meta.sequence.stream,
            "msg_id": (msg.headers or {}).get("Nats-Msg-Id"),
        }
        try:
            doc = parse_document(
                msg.subject,
                msg.data,
                subject_prefix=self.config.subject_prefix,
                site=self.config.site_token,
                known_partner=self.known_partner,
                origin=origin,
            )
        except PoisonMessage as poison:
            return await self._reject(msg, ext, poison, origin)
        intake = Intake(
            transport=TRANSPORT,
            partner=doc.partner,
            data=doc.data,
            file_name=f"{doc.document_type}-{ext}.json",
            external_id=ext,
            meta={
                "subject": msg.subject,
                "stream_seq": meta.sequence.stream,
                "document_type": doc.document_type,
            },
        )
        try:
            result = await self._append(intake)
        except DiskFloorError as exc:
            self.stats.naks += 1
            self.stats.last_error = str(exc)
            log.warning("nats downlink: %s; message %s stays in the stream (NAK)", exc, ext)
            await msg.nak(delay=self.settings.nak_delay)
            return None
        except MessageTooLargeError as exc:
            return await self._reject(msg, ext, PoisonMessage(str(exc), partner=doc.partner), origin)
        self.stats.journaled += 1
        if result.duplicate_of is not None:
            # Redelivery after a crash between journal and ack: the document was handed on then.
            self.stats.duplicates += 1
        elif self.on_journaled is not None:
            self.on_journaled(int(result.message_id))
        return self._ack

    async def _reject(
        self, msg: Msg, ext: str, poison: PoisonMessage, origin: dict[str, Any]
    ) -> Callable[[Msg], Any]:
        """Keep the raw bytes as rejected evidence, then TERM: no retry can fix it."""
        reason = f"downlink message refused: {poison.reason}"
        intake = Intake(
            transport=TRANSPORT,
            partner=None,
            data=msg.data,
            file_name=f"rejected-{ext}.bin",
            external_id=ext,
            meta={**origin, "claimed_partner": poison.partner},
            rejected_reason=reason,
        )
        try:
            await self._append(intake)
        except MessageTooLargeError as exc:
            # The bytes cannot be kept; the event is the evidence that remains.
            await self.journal.note_event("downlink_rejected", {**origin, "reason": f"{reason}; {exc}"})
        self.stats.rejected += 1
        log.warning("nats downlink: %s (%s) journaled as rejected; terminated in the stream", reason, ext)
        return self._term

    async def _append(self, intake: Intake) -> AppendResult:
        with _downlink_append():
            return await self.journal.append(intake)

    async def _ack(self, msg: Msg) -> None:
        try:
            await msg.ack_sync(timeout=self.settings.fetch_timeout)
        except (nats.errors.Error, OSError) as exc:
            # Journaled already: a lost ack means one redelivery, which the journal deduplicates.
            log.warning(
                "nats downlink: ack of %s not confirmed (%s); a redelivery will be deduplicated",
                external_id(msg),
                exc,
            )
            return
        self.stats.acked += 1

    async def _term(self, msg: Msg) -> None:
        try:
            await msg.term()
        except (nats.errors.Error, OSError) as exc:
            log.warning(
                "nats downlink: term of %s failed (%s); its redelivery is deduplicated", external_id(msg), exc
            )

    async def _pause_at(self, point: str, msgs: list[Msg]) -> None:
        if self._pause is None or self._pause[0] != point or not msgs:
            return
        marker = self._pause[1]
        await asyncio.to_thread(marker.write_text, "\n".join(external_id(m) for m in msgs), "utf-8")
        log.warning("test hook: paused after %s (%d message(s))", point, len(msgs))
        await asyncio.Event().wait()


def _read_pause_hook() -> tuple[str, Path] | None:
    raw = os.environ.get(TEST_PAUSE_ENV)
    if not raw:
        return None
    point, _, path = raw.partition(":")
    if point not in ("fetched", "journaled") or not path:
        raise ValueError(f"{TEST_PAUSE_ENV} must be fetched:<file> or journaled:<file>, not {raw!r}")
    return point, Path(path)


__all__ = [
    "DOWNLINK_APPEND",
    "OUTBOUND_SCHEMA",
    "TEST_PAUSE_ENV",
    "TRANSPORT",
    "DownlinkDocument",
    "DownlinkStats",
    "NatsDownlink",
    "PoisonMessage",
    "external_id",
    "parse_document",
]
