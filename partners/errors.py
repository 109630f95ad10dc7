"""Errors raised while reading partner profiles.

Strategy (after asyncssh's ``ConfigParseError``): a profile problem names the
file, the line and the field, in words an integration admin can act on.
Loading never stops at the first problem: every error of every file is
collected, broken files are skipped and the valid ones still load.

::

    ProfileError      file + line + field + reason (one problem in one file)
"""

from __future__ import annotations

from pathlib import Path


class ProfileError(Exception):
    """One problem in one partner profile file.

    Args:
        file: the profile file (or folder) the problem is in.
        reason: what is wrong, in plain words.
        line: 1-based line of the offending key in the file, when known.
        field: dotted path of the offending field (``documents[1].version``), when known.
    """

    def __init__(self, file: Path, reason: str, *, line: int | None = None, field: str | None = None) -> None:
        super().__init__(reason)
        self.file = file
        self.line = line
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        where = str(self.file)
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            return f"{where}: {self.field}: {self.reason}"
        return f"{where}: {self.reason}"

    def __repr__(self) -> str:
        return f"ProfileError({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProfileError):
            return NotImplemented
        return (self.file, self.line, self.field, self.reason) == (
            other.file,
            other.line,
            other.field,
            other.reason,
        )

    def __hash__(self) -> int:
        return hash((self.file, self.line, self.field, self.reason))

    def to_json(self) -> dict[str, object]:
        """Return the error as JSON-compatible data (for ``--json`` output)."""
        return {"file": str(self.file), "line": self.line, "field": self.field, "reason": self.reason}


__all__ = ["ProfileError"]
