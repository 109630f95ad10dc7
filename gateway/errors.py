"""Errors of the gateway runtime.

::

    GatewayError
    ├─ ConfigError              the config file is invalid; .problems lists every one
    ├─ JournalError
    │  ├─ JournalWriteError     fail-stop: the journal could not make data durable
    │  ├─ DiskFloorError        free space under the floor: refuse intake, temporarily
    │  ├─ MessageTooLargeError  over the configured size limit: refuse, permanently
    │  └─ UnknownMessageError   no message/delivery with that id
    └─ ControlError             the control socket could not be reached or answered badly

A source maps these to its protocol's words: DiskFloorError is "try again
later" (SMTP 452, HTTP 503, SFTP failure), MessageTooLargeError is a policy
refusal (SMTP 552, HTTP 413).
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every gateway error."""


class ConfigError(GatewayError):
    """The configuration is invalid.

    Args:
        problems: every problem found, each ``"file: key: reason"``.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class JournalError(GatewayError):
    """Base of journal errors."""


class JournalWriteError(JournalError):
    """Data could not be made durable; the daemon stops rather than lie."""


class DiskFloorError(JournalError):
    """Free space on the state folder is below the configured floor."""


class MessageTooLargeError(JournalError):
    """A file is larger than the configured maximum."""


class UnknownMessageError(JournalError):
    """No message or delivery with that id."""


class ControlError(GatewayError):
    """The daemon's control socket could not be used."""


__all__ = [
    "ConfigError",
    "ControlError",
    "DiskFloorError",
    "GatewayError",
    "JournalError",
    "JournalWriteError",
    "MessageTooLargeError",
    "UnknownMessageError",
]
