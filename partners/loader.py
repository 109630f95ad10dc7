"""Read profile files: TOML → :class:`PartnerProfile`, with located errors.

Strategy: every problem becomes a :class:`ProfileError` naming the file,
the line and the field, and loading goes on, so an admin sees everything
wrong in one run (Vector's ``Result<(), Vec<String>>``).  ``tomllib`` gives
no positions, so :mod:`partners.locator` scans the text for the line of
each key and pydantic's ``loc`` is mapped onto it.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import ProfileError
from .locator import PathKey, key_lines, line_of
from .permissions import private_file_problem
from .profile import Profile
from .schema import PartnerProfile, cross_references

#: keys whose value names the member of a tagged union; pydantic puts that value into ``loc``
_DISCRIMINATORS = ("format", "transport")
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def field_name(loc: Sequence[str | int]) -> str:
    """Render a location as ``documents[1].deviations.date_format``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _data_loc(data: Any, loc: Sequence[str | int]) -> PathKey:
    """Drop the parts of a pydantic ``loc`` that are not keys of the data (union tags, validator names)."""
    out: list[str | int] = []
    current: Any = data
    for index, part in enumerate(loc):
        if isinstance(current, dict):
            if part in current:
                out.append(part)
                current = current[part]
                continue
            if any(current.get(key) == part for key in _DISCRIMINATORS):
                continue  # the union member pydantic tried, not a key
            if isinstance(part, str) and ("[" in part or "-" in part):
                continue  # '[key]', 'function-after[...]'
            out.extend(p for p in loc[index:] if not (isinstance(p, str) and "[" in p))
            break
        if isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            out.append(part)
            current = current[part]
            continue
        if isinstance(part, str) and "[" in part:
            continue
        out.append(part)
        current = None
    return tuple(out)


def _reason(error: Any) -> str:
    kind = error.get("type", "")
    msg = str(error.get("msg", "invalid"))
    if kind == "extra_forbidden":
        return "unknown key (not part of the profile schema; misspelt?)"
    if kind == "missing":
        return "required but missing"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    secret = any(isinstance(p, str) and "password" in p for p in error.get("loc", ()))
    if secret:
        # A clear password pasted where its hash belongs must not reach logs and status.
        return msg.split(" '^", 1)[0] + " (value not shown: it may be a password)"
    if kind in ("literal_error", "enum", "string_pattern_mismatch", "string_type", "int_type", "int_parsing"):
        msg += f" (got {error.get('input')!r})"
    return msg


def parse_profile_text(text: str, path: Path) -> tuple[PartnerProfile | None, list[ProfileError]]:
    """Validate profile TOML text, locating every problem.

    Args:
        text: the TOML text.
        path: the file name to put into errors.

    Returns:
        The profile (None when invalid) and every problem found.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_POSITION.search(str(exc))
        line = int(match.group(1)) if match else None
        reason = _TOML_POSITION.sub("", str(exc)).strip()
        return None, [ProfileError(path, f"not valid TOML: {reason}", line=line)]
    lines = key_lines(text)
    try:
        model = PartnerProfile.model_validate(data)
    except ValidationError as exc:
        errors: list[ProfileError] = []
        for error in exc.errors():
            loc = _data_loc(data, error["loc"])
            errors.append(
                ProfileError(path, _reason(error), line=line_of(lines, loc), field=field_name(loc) or None)
            )
        return None, errors
    problems = cross_references(model)
    if problems:
        return None, [
            ProfileError(path, reason, line=line_of(lines, loc), field=field_name(loc))
            for loc, reason in problems
        ]
    return model, []


def load_profile(path: Path) -> tuple[Profile | None, list[ProfileError]]:
    """Read and validate one profile file.

    Args:
        path: a ``.toml`` profile.

    Returns:
        The profile (None when the file is unreadable or invalid) and every problem found.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [ProfileError(path, f"cannot read: {exc.strerror or exc}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [ProfileError(path, "not UTF-8 text (TOML files are UTF-8)", line=line)]
    model, errors = parse_profile_text(text, path)
    if model is None:
        return None, errors
    sftp, ftp = model.identities.sftp, model.identities.ftp
    hashed = (
        "identities.sftp.password_hash"
        if sftp is not None and sftp.password_hash
        else "identities.ftp.password_hash"
        if ftp is not None
        else None
    )
    if hashed is not None:
        problem = private_file_problem(path, "profile (it holds a password hash)")
        if problem is not None:
            return None, [ProfileError(path, problem, field=hashed)]
    return Profile(model=model, source_path=path, digest=hashlib.sha256(raw).hexdigest()), []


def profile_files(folder: Path) -> list[Path]:
    """Return the profile files of a folder in load order (by name; hidden and editor files skipped)."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix == ".toml" and not p.name.startswith((".", "#")) and p.is_file()
    )


__all__ = ["field_name", "load_profile", "parse_profile_text", "profile_files"]
