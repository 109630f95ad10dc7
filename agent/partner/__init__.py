"""Partner delivery: ship rendered files to trading partners (SFTP, AS2, directory, mail).

Each transport is a :class:`~agent.sinks.base.Sink`, so the delivery engine
drives it with the same retries, backoff, circuit breaker and dead-letter
as the cloud sinks.  A partner transport receives a delivery whose envelope
is a ``edigate.partner-file/1`` object (file name, content type, base64
bytes, control numbers) rendered by ``gateway.outbound``; it ships bytes
and never parses EDI.
"""

from __future__ import annotations

from .base import PartnerFile, partner_file
from .directory import DirectoryPartnerSink

__all__ = ["DirectoryPartnerSink", "PartnerFile", "partner_file"]
