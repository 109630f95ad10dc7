"""Secret files (private keys, profiles carrying a password hash) must be private to their owner.

OpenSSH's rule (``StrictModes``, "UNPROTECTED PRIVATE KEY FILE"): a file that
holds a secret and that group or others can read is refused, with the fix in
the message, instead of being used.  The check is on the file's mode only;
ownership is left to the packaging (the service user owns ``/etc/edigate``).

This is the one copy of the check: partners uses it for profiles, the gateway
for listener keys (``gateway/config.py``, the sources) and the agent for the
mTLS client key and the Odoo secret.  It lives here because partners may import
nothing of ours but translators; the agent is allowed this one module
(``tests/test_import_boundaries.py``).
"""

from __future__ import annotations

import stat
from pathlib import Path


def private_file_problem(path: Path, what: str) -> str | None:
    """Why ``path`` may not hold a secret, or None when its mode is private.

    Args:
        path: the file holding the secret.
        what: what the secret is, for the message ("AS2 private key").

    Returns:
        The problem in words (with the ``chmod`` that fixes it), or None. A path
        that cannot be stat'ed, or is not a regular file, gives None: the reader
        reports that itself.
    """
    try:
        st = path.stat()
    except OSError:
        return None
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISREG(st.st_mode) and mode & 0o077:
        return (
            f"{path}: the {what} is readable by other users (mode {mode:04o}); "
            f"refusing to use it - run: chmod 600 {path}"
        )
    return None


__all__ = ["private_file_problem"]
