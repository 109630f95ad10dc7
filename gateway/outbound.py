"""Outbound translation: canonical documents from Odoo → the partner's EDI bytes → partner delivery.

Strategy:

* The pull (``agent.pull``) journals each Odoo document as a message with
  ``transport = "odoo"`` (the NATS downlink: ``"nats"``) whose raw bytes are an :data:`OUTBOUND_SCHEMA`
  JSON object (partner, document type, canonical document, origin).  The
  journal is the only durable state, as for inbound files.
* :class:`OutboundProcessor` takes such a message in state ``received``,
  draws fresh control numbers from the journal's durable counters
  (``next_control_number(partner, "out", kind)``: the interchange number,
  ISA13 = GS06 or UNB 0020, from the same ``"ack"`` sequence the pipeline's
  997/CONTRL use, ST02/UNH 0062 from ``"st"``; each number is committed
  before it is used, so a crash can skip a number but never repeat one),
  renders the document with the partner profile (:func:`render_outbound`),
  records the interchange for acknowledgment tracking (:mod:`gateway.acktrack`) and queues one delivery to the
  partner's transport sink, named :func:`partner_sink_name`.
* The rendered file travels inside the delivery envelope (base64), so the
  partner transports in ``agent.partner`` ship bytes and know nothing of EDI.
* A document that cannot be rendered (no outbound spec in the profile, data
  the standard cannot carry) rejects the message with the reason; it can be
  replayed after the profile is fixed.

This module imports translators and partners only (never ``agent``); the
AS2 adapter :class:`As2Codec` hands plain data across the boundary.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as _dt
import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from partners import Profile, render_with_profile
from translators import ControlNumbers, LocalTranslationError, TranslationError
from translators.edifact import write_interchange as write_edifact
from translators.edifact.maps import OUTBOUND_MESSAGES
from translators.edifact.maps import from_canonical as edifact_from_canonical
from translators.x12 import write_interchange as write_x12
from translators.x12.maps import OUTBOUND_SETS
from translators.x12.maps import from_canonical as x12_from_canonical

from . import acktrack
from .as2 import (
    As2Error,
    As2IntegrityCheckFailed,
    As2NegativeMdn,
    KeyPair,
    build_message,
    check_mdn,
    load_certificates,
    load_key_pair,
    parse_mdn,
)
from .errors import JournalWriteError, UnknownMessageError
from .journal import DocumentRecord, Journal
from .states import MessageState

log = logging.getLogger("edigate.outbound")

#: journal transports whose messages are outbound documents (Odoo pull, NATS downlink).
OUTBOUND_TRANSPORTS = ("odoo", "nats")
#: ``schema`` of the JSON the pull journals for one outbound document.
OUTBOUND_SCHEMA = "edigate.outbound/1"
#: Counter kind of our interchange numbers (ISA13 = GS06, UNB 0020) per partner; it must be
#: the one ``gateway.pipeline`` uses for acknowledgments (``next_control_number(p, "out", "ack")``).
INTERCHANGE_COUNTER = "ack"
#: ``schema`` of the delivery envelope a partner transport receives.
FILE_SCHEMA = "edigate.partner-file/1"

_CONTENT_TYPES = {
    "x12": "application/edi-x12",
    "edifact": "application/edifact",
    "csv": "text/csv",
    "fixed": "text/plain",
    "xml": "application/xml",
}
_EXTENSIONS = {"x12": "x12", "edifact": "edi", "csv": "csv", "fixed": "txt", "xml": "xml"}


def partner_sink_name(partner: str) -> str:
    """The delivery-engine sink name of a partner's transport."""
    return f"partner:{partner}"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundNumbers:
    """Control numbers for one outbound interchange (X12: isa/gs/st; EDIFACT: unb + st as UNH ref)."""

    interchange: int
    group: int
    transaction: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundFile:
    """A rendered outbound file."""

    data: bytes
    standard: str
    content_type: str
    file_name: str
    interchange_control: str
    group_control: str | None


def _spec_for(profile: Profile, document_type: str) -> Any:
    for spec in profile.documents(direction="outbound"):
        if spec.standard == "x12" and OUTBOUND_SETS.get(document_type) == spec.type:
            return spec
        if spec.standard == "edifact" and OUTBOUND_MESSAGES.get(document_type) == spec.type:
            return spec
        if (
            spec.standard in ("csv", "fixed", "xml")
            and spec.layout is not None
            and profile.layout(spec.layout).document_type == document_type
        ):
            return spec
    return None


def render_outbound(
    profile: Profile,
    document_type: str,
    document: Mapping[str, Any],
    *,
    numbers: OutboundNumbers,
    now: _dt.datetime,
    test: bool = False,
) -> OutboundFile:
    """Render one canonical document as the file the partner expects.

    Args:
        profile: the receiving partner; its outbound ``documents`` entry
            chooses the standard and version, ``our_ids`` and ``identities``
            give the envelope IDs, deviations reach the map.
        document_type: canonical name (``ship_notice``, ``invoice``, ``order_response``...).
        document: the canonical document.
        numbers: fresh control numbers from the journal.
        now: envelope timestamp.
        test: mark the interchange as a test (ISA15 = T, UNB 0035 = 1).

    Returns:
        The file with its control numbers.

    Raises:
        LookupError: the profile declares no outbound document of this type,
            or lacks the envelope identities the standard needs.
        LocalTranslationError: the document does not fit the standard or layout.
    """
    spec = _spec_for(profile, document_type)
    if spec is None:
        raise LookupError(f"partner {profile.id!r} declares no outbound document for {document_type!r}")
    model = profile.model
    options = profile.translator_options(
        now=now,
        control_numbers=ControlNumbers(
            interchange=numbers.interchange, group=numbers.group, transaction=numbers.transaction
        ),
    )
    stamp = now.strftime("%Y%m%d%H%M%S")
    if spec.standard == "x12":
        ours = model.our_ids.x12
        theirs = model.identities.x12[0] if model.identities.x12 else None
        if ours is None or theirs is None:
            raise LookupError(f"partner {profile.id!r} needs our_ids.x12 and identities.x12 for X12 output")
        version = spec.version or "004010"
        tx = x12_from_canonical(document_type, document, set_id=spec.type, version=version, options=options)
        data = write_x12(
            [tx],
            sender=(ours.qualifier, ours.id),
            receiver=(theirs.qualifier, theirs.id),
            control_numbers=ControlNumbers(
                interchange=numbers.interchange, group=numbers.group, transaction=numbers.transaction
            ),
            version=version,
            now=now,
            application_sender=ours.application_codes[0] if ours.application_codes else None,
            application_receiver=theirs.application_codes[0] if theirs.application_codes else None,
            test=test,
        )
        icn = f"{numbers.interchange:09d}"
        return OutboundFile(
            data=data,
            standard="x12",
            content_type=_CONTENT_TYPES["x12"],
            file_name=f"{profile.id}-{spec.type}-{icn}-{stamp}.{_EXTENSIONS['x12']}",
            interchange_control=str(numbers.interchange),
            group_control=str(numbers.group),
        )
    if spec.standard == "edifact":
        ours_e = model.our_ids.edifact
        theirs_e = model.identities.edifact[0] if model.identities.edifact else None
        if ours_e is None or theirs_e is None:
            raise LookupError(
                f"partner {profile.id!r} needs our_ids.edifact and identities.edifact for EDIFACT output"
            )
        directory = (spec.version or "D96A").replace(":", "").replace("UN", "") or "D96A"
        message = edifact_from_canonical(
            document_type, document, directory=directory, control=str(numbers.transaction), options=options
        )
        data = write_edifact(
            [message],
            sender=(ours_e.id, ours_e.qualifier),
            recipient=(theirs_e.id, theirs_e.qualifier),
            control_reference=str(numbers.interchange),
            now=now,
            test=test,
        )
        return OutboundFile(
            data=data,
            standard="edifact",
            content_type=_CONTENT_TYPES["edifact"],
            file_name=f"{profile.id}-{spec.type}-{numbers.interchange}-{stamp}.{_EXTENSIONS['edifact']}",
            interchange_control=str(numbers.interchange),
            group_control=None,
        )
    data = render_with_profile(profile, document_type, [dict(document)])
    return OutboundFile(
        data=data,
        standard=spec.standard,
        content_type=_CONTENT_TYPES[spec.standard],
        file_name=f"{profile.id}-{document_type}-{numbers.interchange}-{stamp}.{_EXTENSIONS[spec.standard]}",
        interchange_control=str(numbers.interchange),
        group_control=None,
    )


def outbound_message(
    *, partner: str, document_type: str, document: Mapping[str, Any], origin: Mapping[str, Any]
) -> bytes:
    """The bytes the pull journals for one outbound document (stable: sorted keys)."""
    body = {
        "schema": OUTBOUND_SCHEMA,
        "partner": partner,
        "document_type": document_type,
        "document": dict(document),
        "origin": dict(origin),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


class OutboundProcessor:
    """Renders journaled outbound documents and queues their delivery to the partner.

    Args:
        journal: the journal.
        registry: returns the current partner registry (``partners.Registry``) or None.
        on_queued: called with ``(delivery_id, sink, partner, message_id)`` once committed.
        known_sinks: sink names the delivery engine runs (a partner without a
            transport is rejected with the reason rather than left pending).
        clock: wall clock.
    """

    def __init__(
        self,
        journal: Journal,
        *,
        registry: Callable[[], Any],
        on_queued: Callable[[int, str, str, int], None],
        known_sinks: Callable[[], frozenset[str]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.journal = journal
        self._registry = registry
        self._on_queued = on_queued
        self._known_sinks = known_sinks
        self._clock = clock
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._pending: set[int] = set()
        self.rendered = 0
        self.rejected = 0

    def submit(self, message_id: int) -> None:
        """Queue an outbound message for rendering."""
        if message_id not in self._pending:
            self._pending.add(message_id)
            self._queue.put_nowait(message_id)

    def claims(self, message_id: int) -> bool:
        """Whether this processor owns the message (so the inbound pipeline must leave it)."""
        return message_id in self._pending

    async def resume(self) -> list[int]:
        """Queue every outbound message a previous run left in ``received``; returns their ids."""

        def query(c: Any) -> list[int]:
            marks = ",".join("?" * len(OUTBOUND_TRANSPORTS))
            return [
                int(r[0])
                for r in c.execute(
                    f"SELECT id FROM messages WHERE transport IN ({marks}) AND state = 'received'"
                    " ORDER BY id",
                    OUTBOUND_TRANSPORTS,
                )
            ]

        ids = await self.journal.read(query)
        for mid in ids:
            self.submit(mid)
        return ids

    async def run(self) -> None:
        """Render queued messages until cancelled (one at a time: counters stay in order)."""
        await self.journal._run(acktrack.ensure_schema)
        while True:
            mid = await self._queue.get()
            try:
                await self.process(mid)
            except JournalWriteError:
                raise
            except (UnknownMessageError, ValueError) as exc:
                log.warning("outbound message %s skipped: %s", mid, exc)
            finally:
                self._pending.discard(mid)
                self._queue.task_done()

    async def idle(self) -> None:
        """Wait until nothing is queued."""
        await self._queue.join()

    async def process(self, message_id: int) -> list[int]:
        """Render one outbound message and queue its delivery (or reject it).

        Returns:
            The delivery ids created (empty when rejected or already done).
        """
        row, data = await self.journal.message_with_bytes(message_id)
        if MessageState(row["state"]) is not MessageState.RECEIVED:
            return []
        try:
            body = json.loads(data)
            partner = str(body["partner"])
            document_type = str(body["document_type"])
            document = body["document"]
        except (ValueError, KeyError, TypeError) as exc:
            return await self._reject(message_id, f"not an outbound document: {exc}", None)
        registry = self._registry()
        profile = registry.get(partner) if registry is not None else None
        if profile is None:
            return await self._reject(
                message_id, f"no partner profile {partner!r} for outbound {document_type}", partner
            )
        sink = partner_sink_name(partner)
        if self._known_sinks is not None and sink not in self._known_sinks():
            return await self._reject(
                message_id,
                f"partner {partner} has no [delivery] transport configured; "
                f"add one to its profile, then replay",
                partner,
            )
        now = _dt.datetime.fromtimestamp(self._clock(), tz=_dt.UTC).replace(microsecond=0)
        spec = _spec_for(profile, document_type)
        if spec is None:
            return await self._reject(
                message_id, f"partner {partner} declares no outbound document for {document_type}", partner
            )
        numbers = await self._numbers(partner, spec.standard)
        try:
            rendered = await asyncio.to_thread(
                render_outbound, profile, document_type, document, numbers=numbers, now=now
            )
        except (LookupError, TranslationError, LocalTranslationError) as exc:
            return await self._reject(
                message_id, f"cannot render {document_type} for {partner}: {exc}", partner
            )
        sha = hashlib.sha256(rendered.data).hexdigest()
        key = f"out:{partner}:{rendered.standard}:{rendered.interchange_control}:{sha[:20]}"
        envelope = {
            "schema": FILE_SCHEMA,
            "partner": partner,
            "document_type": document_type,
            "standard": rendered.standard,
            "file_name": rendered.file_name,
            "content_type": rendered.content_type,
            "interchange_control": rendered.interchange_control,
            "group_control": rendered.group_control,
            "sha256": sha,
            "size": len(rendered.data),
            "origin": body.get("origin") or {},
            "content_b64": base64.b64encode(rendered.data).decode("ascii"),
        }
        tracked = acktrack.OutboundInterchange(
            message_id=message_id,
            partner=partner,
            standard=rendered.standard,
            document_type=document_type,
            interchange_control=rendered.interchange_control,
            group_control=rendered.group_control,
            expect_within_hours=(
                profile.expect_ack_within_hours if rendered.standard in ("x12", "edifact") else None
            ),
        )
        stamp = self._clock()
        await self.journal._run(functools.partial(acktrack.record_sent, item=tracked, now=stamp))
        ids = await self.journal.store_translation(
            message_id,
            partner=partner,
            standard=rendered.standard,
            documents=[
                DocumentRecord(
                    idempotency_key=key,
                    document_type=document_type,
                    envelope_json=json.dumps(envelope, sort_keys=True),
                )
            ],
            sinks=[sink],
        )
        self.rendered += 1
        for delivery_id in ids:
            self._on_queued(delivery_id, sink, partner, message_id)
        log.info(
            "rendered %s for %s as %s interchange %s",
            document_type,
            partner,
            rendered.standard,
            rendered.interchange_control,
            extra={"message_id": message_id, "partner": partner},
        )
        return ids

    async def _numbers(self, partner: str, standard: str) -> OutboundNumbers:
        # ISA13/GS06 and UNB 0020 come from the counter the pipeline's acknowledgments draw
        # from too: our 997s/CONTRLs and our documents reach the same partner, and two
        # interchanges from us with one control number would be rejected there as duplicates.
        interchange = await self.journal.next_control_number(partner, "out", INTERCHANGE_COUNTER)
        if standard == "x12":
            st = await self.journal.next_control_number(partner, "out", "st") % 10_000 or 1
            return OutboundNumbers(interchange=interchange, group=interchange, transaction=st)
        unb = interchange
        if standard == "edifact":
            unh = await self.journal.next_control_number(partner, "out", "st")
            return OutboundNumbers(interchange=unb, group=unb, transaction=unh)
        return OutboundNumbers(interchange=unb, group=unb, transaction=1)

    async def _reject(self, message_id: int, reason: str, partner: str | None) -> list[int]:
        self.rejected += 1
        await self.journal.reject(message_id, reason, partner=partner)
        log.warning("outbound rejected: %s", reason, extra={"message_id": message_id, "partner": partner})
        return []


# --------------------------------------------------------------------- AS2 adapter


@dataclass(frozen=True, slots=True, kw_only=True)
class As2Request:
    """An AS2 request ready to POST (plain data for ``agent.partner.as2``)."""

    message_id: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    mic: Any


class As2Codec:
    """Builds AS2 messages and checks MDNs for one partner with :mod:`gateway.as2`.

    The agent's AS2 transport receives this object from the daemon, so the
    agent never imports the codec; failures cross the boundary as
    ``(reason, retryable)`` instead of exceptions of the gateway.

    Args:
        as2_from / as2_to: AS2 names.
        signer: our key pair (None = unsigned).
        recipient: the partner's certificate (None = unencrypted).
        partner_certificates: certificates to verify signed MDNs.
        digest: signing / MIC algorithm.
        cipher: content cipher name for :func:`gateway.as2.cms.encrypt`.
        mdn_to: Disposition-Notification-To (None = no MDN asked).
        mdn_signed: ask for a signed MDN (then an unsigned one is refused).
        mdn_async_url: ask for an asynchronous MDN there (our AS2 listener); the
            expectation is recorded in ``journal`` (:mod:`gateway.acktrack`).
        mdn_within_seconds: the deadline of an asynchronous MDN.
        partner: the partner id the asynchronous MDN is expected from.
        journal: where asynchronous MDN expectations go (required with ``mdn_async_url``).
        clock: wall clock.
    """

    def __init__(
        self,
        *,
        as2_from: str,
        as2_to: str,
        signer: KeyPair | None,
        recipient: x509.Certificate | None,
        partner_certificates: Sequence[x509.Certificate] = (),
        digest: str = "sha256",
        cipher: str = "aes256_cbc",
        mdn_to: str | None = "edi@edigate.invalid",
        mdn_signed: bool = True,
        mdn_async_url: str | None = None,
        mdn_within_seconds: float = 3600.0,
        partner: str = "",
        journal: Journal | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if mdn_async_url is not None and (mdn_to is None or journal is None):
            raise ValueError("an asynchronous MDN needs mdn_to and the journal to record what we expect")
        self.as2_from, self.as2_to = as2_from, as2_to
        self._signer, self._recipient = signer, recipient
        self._certs = tuple(partner_certificates)
        self._digest, self._cipher = digest, cipher
        self._mdn_to, self._mdn_signed = mdn_to, mdn_signed
        self._async_url, self._within = mdn_async_url, mdn_within_seconds
        self._partner, self._journal = partner or as2_to, journal
        self._clock = clock

    @property
    def expects_mdn(self) -> bool:
        """Whether a synchronous MDN is requested (in the HTTP answer)."""
        return self._mdn_to is not None and self._async_url is None

    @property
    def async_mdn(self) -> bool:
        """Whether the MDN is requested asynchronously (the partner POSTs it to our listener)."""
        return self._async_url is not None

    async def expect_mdn(self, request: As2Request, *, delivery_id: int | None) -> None:
        """Durably record the asynchronous MDN ``request`` asks for, before it is POSTed.

        Raises:
            JournalWriteError: the journal failed (the send must not happen).
        """
        assert self._journal is not None
        item = acktrack.ExpectedMdn(
            as2_message_id=request.message_id,
            partner=self._partner,
            delivery_id=delivery_id,
            mic=request.mic.value,
            mic_algorithm=request.mic.algorithm,
            signed=self._mdn_signed,
            within_seconds=self._within,
        )
        stamp = self._clock()
        await self._journal.write(functools.partial(acktrack.expect_mdn, item=item, now=stamp))

    async def mdn_awaited(self, request: As2Request) -> None:
        """The partner answered the POST with 2xx: the MDN is now awaited (and overdue after the deadline)."""
        assert self._journal is not None
        await self._journal.write(functools.partial(acktrack.mdn_sent, as2_message_id=request.message_id))

    def build(self, payload: bytes, *, file_name: str, content_type: str) -> As2Request:
        """Sign/encrypt one payload as an AS2 message.

        The payload's line ends are made CRLF first: the entity is sent with
        ``Content-Transfer-Encoding: binary`` and CRLF headers, and OpenSSL's
        S/MIME parser (like pyas2lib, peers.md §2 gotcha 2) rewrites every
        line end of a multipart/signed part to one style before checking the
        signature, so an LF-only EDI body under CRLF headers never verifies
        at such a partner.  CRLF between segments is valid X12 and EDIFACT.
        """
        payload = payload.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        out = build_message(
            payload,
            as2_from=self.as2_from,
            as2_to=self.as2_to,
            now=_dt.datetime.fromtimestamp(self._clock(), tz=_dt.UTC),
            content_type=content_type,
            file_name=file_name,
            signer=self._signer,
            digest_name=self._digest,
            recipient=self._recipient,
            cipher=self._cipher,
            mdn_to=self._mdn_to,
            mdn_signed=self._mdn_signed,
            mdn_async_url=self._async_url,
            subject=f"EDI {file_name}",
        )
        return As2Request(message_id=out.message_id, headers=out.headers, body=out.body, mic=out.mic)

    def check(
        self, request: As2Request, headers: Sequence[tuple[str, str]], body: bytes
    ) -> tuple[str, bool] | None:
        """Verify the synchronous MDN answering ``request``.

        Returns:
            None when the partner confirmed receipt with our MIC, else
            ``(reason, retryable)``: a negative disposition or a bad signature
            is not retryable; a MIC mismatch (content damaged on the way) is.
        """
        now = _dt.datetime.fromtimestamp(self._clock(), tz=_dt.UTC)
        try:
            mdn = parse_mdn(
                headers,
                body,
                certificates=self._certs,
                now=now if self._certs else None,
                require_signature=self._mdn_signed,
            )
            check_mdn(mdn, message_id=request.message_id, mic=request.mic)
        except As2IntegrityCheckFailed as exc:
            return f"AS2 MDN from {self.as2_to}: {exc}", True
        except As2NegativeMdn as exc:
            return f"AS2 partner {self.as2_to} refused the message: {exc}", False
        except As2Error as exc:
            return f"AS2 MDN from {self.as2_to} not acceptable: {exc}", False
        return None


_CIPHERS = {
    "des3": "tripledes_3key",
    "aes128-cbc": "aes128_cbc",
    "aes192-cbc": "aes192_cbc",
    "aes256-cbc": "aes256_cbc",
}


def as2_codec_for(
    profile: Profile,
    *,
    mdn_to: str = "edi@edigate.invalid",
    async_mdn_url: str | None = None,
    journal: Journal | None = None,
) -> As2Codec:
    """Build the AS2 codec of a partner whose ``[delivery]`` is AS2, from its certificate paths.

    Args:
        profile: the partner.
        mdn_to: the Disposition-Notification-To we write.
        async_mdn_url: our AS2 listener's public URL (``public_url`` of ``[[sources.as2]]``),
            used for ``mdn = "async"`` unless the profile names ``async_mdn_url`` itself.
        journal: records expected asynchronous MDNs (required for ``mdn = "async"``).

    Raises:
        ValueError: the profile does not deliver over AS2, a certificate it needs is missing,
            or ``mdn = "async"`` has no URL to give the partner.
        OSError: a certificate file cannot be read.
    """
    delivery = profile.model.delivery
    if delivery is None or delivery.transport != "as2":
        raise ValueError(f"partner {profile.id} does not deliver over AS2")
    certs = profile.model.certificates
    signer = None
    if delivery.sign:
        if certs.as2_ours is None or certs.as2_ours_key is None:
            raise ValueError(f"partner {profile.id}: signing needs certificates.as2_ours and as2_ours_key")
        signer = load_key_pair(
            profile.resolve_path(certs.as2_ours_key).read_bytes(),
            None,
            profile.resolve_path(certs.as2_ours).read_bytes(),
        )
    partner_certs: list[x509.Certificate] = []
    if certs.as2_partner is not None:
        partner_certs = load_certificates(profile.resolve_path(certs.as2_partner).read_bytes())
    if (delivery.encrypt or (delivery.mdn != "none" and delivery.mdn_signed)) and not partner_certs:
        raise ValueError(f"partner {profile.id}: encryption and signed MDNs need certificates.as2_partner")
    url = None
    if delivery.mdn == "async":
        url = delivery.async_mdn_url or async_mdn_url
        if url is None:
            raise ValueError(
                f"partner {profile.id}: mdn = 'async' needs async_mdn_url in the profile "
                "or public_url on an [[sources.as2]] listener"
            )
        if journal is None:
            raise ValueError(f"partner {profile.id}: mdn = 'async' needs the journal")
    return As2Codec(
        as2_from=delivery.as2_from,
        as2_to=delivery.as2_to,
        signer=signer,
        recipient=partner_certs[0] if delivery.encrypt else None,
        partner_certificates=partner_certs,
        digest=delivery.signing_algorithm,
        cipher=_CIPHERS[delivery.encryption_algorithm],
        mdn_to=mdn_to if delivery.mdn != "none" else None,
        mdn_signed=delivery.mdn_signed,
        mdn_async_url=url,
        mdn_within_seconds=delivery.async_mdn_within_minutes * 60.0,
        partner=profile.id,
        journal=journal if url is not None else None,
    )


__all__ = [
    "FILE_SCHEMA",
    "INTERCHANGE_COUNTER",
    "OUTBOUND_SCHEMA",
    "OUTBOUND_TRANSPORTS",
    "As2Codec",
    "As2Request",
    "OutboundFile",
    "OutboundNumbers",
    "OutboundProcessor",
    "as2_codec_for",
    "outbound_message",
    "partner_sink_name",
    "render_outbound",
]
