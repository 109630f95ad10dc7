"""Structured JSON logs on stderr (journald keeps them).

Every line is one JSON object with time, level, logger, message and, when
the caller passed them in ``extra``, ``message_id``, ``partner``, ``sink``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import sys

import orjson

_CONTEXT = ("message_id", "partner", "sink", "delivery_id", "source", "remote")


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": _dt.datetime.fromtimestamp(record.created, tz=_dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in _CONTEXT:
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def configure(level: str = "info") -> None:
    """Send every ``edigate`` log line to stderr as JSON."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The lines carry none of these, and collecting them (a stack walk for
    # the caller, thread and process lookups) was a tenth of the daemon's
    # CPU per message: the "Optimization" switches of the logging HOWTO.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # odoorpc logs request bodies, passwords included, at DEBUG.
    logging.getLogger("odoorpc").setLevel(logging.INFO)
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    logging.getLogger("watchdog").setLevel(logging.WARNING)


__all__ = ["JsonFormatter", "configure"]
