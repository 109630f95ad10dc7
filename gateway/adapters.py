"""Views of the partner registry in the shapes the network sources ask for.

Sources stay ignorant of profiles: each defines a small lookup protocol
(``SftpAccounts``, ``MailSenders``...) and the daemon hands it one of these
adapters.  Every lookup reads the *current* registry snapshot, so a profile
reload applies to the next login without restarting the listener.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .sources.sftp import SftpAccount
from .sources.smtp import MailLogin

log = logging.getLogger("edigate.adapters")

RegistryProvider = Callable[[], Any]


def _read_keys(profile: Any, files: list[str]) -> list[str]:
    keys: list[str] = []
    for name in files:
        path: Path = profile.resolve_path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            # A missing key file locks that key out; it must not lock the others out.
            log.warning("partner %s: cannot read SSH public key file %s: %s", profile.id, path, exc)
            continue
        keys.extend(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return keys


class RegistrySftpAccounts:
    """SFTP accounts from the profiles' ``[identities.sftp]`` tables."""

    def __init__(self, registry: RegistryProvider) -> None:
        self._registry = registry

    def lookup(self, username: str) -> SftpAccount | None:
        """The account with that user name, or None."""
        reg = self._registry()
        profile = reg.by_sftp_account(username) if reg is not None else None
        if profile is None:
            return None
        sftp = profile.model.identities.sftp
        keys = list(sftp.public_keys) + _read_keys(profile, list(sftp.public_key_files))
        return SftpAccount(
            username=sftp.user,
            partner=profile.id,
            authorized_keys=tuple(keys),
            password_hash=sftp.password_hash,
        )


class RegistryMailSenders:
    """Allowed mail senders from ``identities.mail_senders``.

    SMTP AUTH uses the partner's SFTP credentials (one login per partner), so
    an admin manages one password hash per partner, not one per protocol.
    """

    def __init__(self, registry: RegistryProvider) -> None:
        self._registry = registry

    def lookup(self, address: str) -> str | None:
        """The partner id for an allowed envelope sender, or None."""
        reg = self._registry()
        profile = reg.by_mail_sender(address) if reg is not None else None
        return None if profile is None else str(profile.id)

    def login(self, username: str) -> MailLogin | None:
        """The AUTH login with that user name, or None."""
        reg = self._registry()
        profile = reg.by_sftp_account(username) if reg is not None else None
        if profile is None or profile.model.identities.sftp.password_hash is None:
            return None
        return MailLogin(
            username=username, partner=profile.id, password_hash=profile.model.identities.sftp.password_hash
        )


__all__ = ["RegistryMailSenders", "RegistrySftpAccounts"]
