"""The partner registry: an immutable snapshot of every valid profile.

Rule: a :class:`Registry` never changes.  A reload builds a new one and the
gateway swaps the reference, so a connection that looked up its partner
keeps a consistent view (asyncssh ``SSHAcceptor.update``).  Reloading takes
the previous snapshot: a file that has become broken keeps its previous
version serving, and the problem is reported.

Identification is qualifier-aware: ``ZZ:ACME`` and ``01:ACME`` are different
partners.  IDs are compared after stripping the padding the fixed-length
ISA adds; X12 qualifiers are compared upper-cased.  An EDIFACT identity
written without a qualifier matches the ID under any qualifier.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ProfileError
from .loader import field_name, load_profile, profile_files
from .locator import PathKey, key_lines, line_of
from .profile import Profile

if TYPE_CHECKING:
    from .watcher import RegistryWatcher

OnChange = Callable[["Registry", list[ProfileError]], None]


def _norm_qualifier(value: str | None) -> str | None:
    value = (value or "").strip().upper()
    return value or None


def _quals_overlap(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b


def _codes_overlap(a: Iterable[str], b: Iterable[str]) -> bool:
    sa, sb = set(a), set(b)
    return not sa or not sb or bool(sa & sb)


class Registry:
    """Every valid partner profile, with lookups by each way a partner shows up.

    Build one with :func:`load_registry` (or :meth:`from_profiles`); the
    constructor trusts that the profiles do not conflict.
    """

    __slots__ = ("_as2", "_by_id", "_ftp", "_inbox", "_mail", "_profiles", "_sftp", "folder")

    def __init__(self, profiles: Iterable[Profile] = (), *, folder: Path | None = None) -> None:
        self._profiles: tuple[Profile, ...] = tuple(sorted(profiles, key=lambda p: p.id))
        self.folder = folder
        self._by_id = {p.id: p for p in self._profiles}
        self._inbox = {p.model.identities.inbox: p for p in self._profiles if p.model.identities.inbox}
        self._sftp = {p.model.identities.sftp.user: p for p in self._profiles if p.model.identities.sftp}
        self._ftp = {p.model.identities.ftp.user: p for p in self._profiles if p.model.identities.ftp}
        self._as2 = {p.model.identities.as2_name: p for p in self._profiles if p.model.identities.as2_name}
        self._mail = {addr.lower(): p for p in self._profiles for addr in p.model.identities.mail_senders}

    @classmethod
    def from_profiles(
        cls, profiles: Iterable[Profile], *, folder: Path | None = None
    ) -> tuple[Registry, list[ProfileError]]:
        """Build a registry, refusing profiles that claim what an earlier one claims.

        Profiles are taken in order; a profile that reuses an earlier one's
        partner id, interchange identity, inbox, SFTP or FTP account, AS2 name or
        mail sender is left out and reported.

        Returns:
            The registry and the conflicts found.
        """
        kept: list[Profile] = []
        errors: list[ProfileError] = []
        for profile in profiles:
            conflicts = [found for other in kept for found in _conflicts(profile, other)]
            if conflicts:
                lines = _file_lines(profile.source_path)
                errors += [
                    ProfileError(profile.source_path, reason, line=line_of(lines, loc), field=field_name(loc))
                    for loc, reason in conflicts
                ]
            else:
                kept.append(profile)
        return cls(kept, folder=folder), errors

    # -- lookups --------------------------------------------------------------
    @property
    def profiles(self) -> tuple[Profile, ...]:
        """Every profile, sorted by id."""
        return self._profiles

    def get(self, partner_id: str) -> Profile | None:
        """Return the profile with this partner id, or None."""
        return self._by_id.get(partner_id)

    def identify_interchange(
        self,
        standard: str,
        sender_qualifier: str | None,
        sender_id: str,
        receiver_qualifier: str | None,
        receiver_id: str | None,
        *,
        application_sender: str | None = None,
    ) -> Profile | None:
        """Find the partner that sent an interchange.

        Args:
            standard: ``x12`` or ``edifact``.
            sender_qualifier / sender_id: ISA05/06 or UNB S002 as presented (padding allowed).
            receiver_qualifier / receiver_id: ISA07/08 or UNB S003; used only to
                choose between partners sharing a sender identity.
            application_sender: GS02 / UNG sender, to choose between partners
                that share an interchange ID and differ by application code.

        Returns:
            The profile, or None when no partner (or more than one) matches.
        """
        std = standard.strip().lower()
        sid = sender_id.strip()
        qual = _norm_qualifier(sender_qualifier)
        candidates: list[Profile] = []
        for profile in self._profiles:
            idents = profile.model.identities
            if std == "x12":
                hit = any(
                    i.id == sid and i.qualifier == qual and _app_ok(i.application_codes, application_sender)
                    for i in idents.x12
                )
            elif std == "edifact":
                hit = any(
                    i.id == sid
                    and (i.qualifier is None or _norm_qualifier(i.qualifier) == qual)
                    and _app_ok(i.application_codes, application_sender)
                    for i in idents.edifact
                )
            else:
                return None
            if hit:
                candidates.append(profile)
        if len(candidates) > 1 and receiver_id is not None:
            candidates = [p for p in candidates if _is_our_id(p, std, receiver_qualifier, receiver_id)]
        return candidates[0] if len(candidates) == 1 else None

    def by_inbox(self, folder_name: str) -> Profile | None:
        """Return the partner owning this drop folder (its name under the inbox root)."""
        return self._inbox.get(folder_name)

    def by_sftp_account(self, user: str) -> Profile | None:
        """Return the partner owning this SFTP login."""
        return self._sftp.get(user)

    def by_ftp_account(self, user: str) -> Profile | None:
        """Return the partner owning this FTP/FTPS login (``identities.ftp.user``)."""
        return self._ftp.get(user)

    def by_as2_name(self, name: str) -> Profile | None:
        """Return the partner with this AS2-From name (RFC 4130 quoting removed)."""
        name = name.strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = name[1:-1].replace('\\"', '"')
        return self._as2.get(name)

    def by_mail_sender(self, address: str) -> Profile | None:
        """Return the partner that mails from this address (``Name <a@b>`` accepted).

        An exact address wins over an ``@domain`` entry.
        """
        _, addr = email.utils.parseaddr(address)
        addr = addr.strip().lower()
        if "@" not in addr:
            return None
        return self._mail.get(addr) or self._mail.get("@" + addr.rsplit("@", 1)[1])

    @classmethod
    def watch(
        cls,
        folder: Path,
        on_change: OnChange,
        *,
        debounce_seconds: float = 0.5,
        previous: Registry | None = None,
    ) -> RegistryWatcher:
        """Start watching a profile folder and report each new snapshot.

        Call it on the class (``Registry.watch(folder, on_change)``).  The
        returned watcher is callable: calling it stops watching.

        Args:
            folder: the profile folder.
            on_change: called with the new registry and the problems found,
                on a timer thread: hand it to the event loop with
                ``loop.call_soon_threadsafe``.  Called after a change that
                alters what is serving, or that found problems.
            debounce_seconds: quiet time after the last file event before reloading.
            previous: the snapshot serving now; loaded from ``folder`` when None.

        Returns:
            The started watcher.
        """
        from .watcher import RegistryWatcher

        baseline = previous if previous is not None else load_registry(folder)[0]
        watcher = RegistryWatcher(folder, baseline, on_change, debounce_seconds=debounce_seconds)
        watcher.start()
        return watcher

    def __len__(self) -> int:
        return len(self._profiles)

    def __repr__(self) -> str:
        return f"Registry({', '.join(p.id for p in self._profiles)})"


def _app_ok(codes: list[str], presented: str | None) -> bool:
    return presented is None or not codes or presented.strip() in codes


def _is_our_id(profile: Profile, standard: str, qualifier: str | None, ident: str) -> bool:
    ours = profile.model.our_ids.x12 if standard == "x12" else profile.model.our_ids.edifact
    if ours is None:
        return True
    if ours.id != ident.strip():
        return False
    return ours.qualifier is None or _norm_qualifier(ours.qualifier) == _norm_qualifier(qualifier)


def _file_lines(path: Path) -> dict[PathKey, int]:
    try:
        return key_lines(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return {}  # the file changed under us: report without a line rather than not at all


def _conflicts(new: Profile, old: Profile) -> list[tuple[PathKey, str]]:
    a, b = new.model, old.model
    where = f"(already claimed by partner {b.id!r} in {old.source_path.name})"
    out: list[tuple[PathKey, str]] = []
    if a.id == b.id:
        out.append((("id",), f"partner id {a.id!r} is used by {old.source_path.name} too"))
    ia, ib = a.identities, b.identities
    # One sender ID may serve two partners only when something tells them
    # apart: different GS/UNG application codes, or different receiver IDs of ours.
    ours_x12 = None not in (a.our_ids.x12, b.our_ids.x12) and a.our_ids.x12 != b.our_ids.x12
    ours_edi = None not in (a.our_ids.edifact, b.our_ids.edifact) and a.our_ids.edifact != b.our_ids.edifact
    for i, x in enumerate(ia.x12):
        for y in ib.x12:
            if (
                x.qualifier == y.qualifier
                and x.id == y.id
                and _codes_overlap(x.application_codes, y.application_codes)
                and not ours_x12
            ):
                out.append((("identities", "x12", i), f"X12 identity {x.qualifier}:{x.id} {where}"))
    for i, e in enumerate(ia.edifact):
        for f in ib.edifact:
            if (
                e.id == f.id
                and _quals_overlap(e.qualifier, f.qualifier)
                and _codes_overlap(e.application_codes, f.application_codes)
                and not ours_edi
            ):
                out.append(
                    (("identities", "edifact", i), f"EDIFACT identity {e.id}:{e.qualifier or '*'} {where}")
                )
    if ia.inbox and ia.inbox == ib.inbox:
        out.append((("identities", "inbox"), f"inbox {ia.inbox!r} {where}"))
    if ia.sftp and ib.sftp and ia.sftp.user == ib.sftp.user:
        out.append((("identities", "sftp", "user"), f"SFTP account {ia.sftp.user!r} {where}"))
    if ia.ftp and ib.ftp and ia.ftp.user == ib.ftp.user:
        out.append((("identities", "ftp", "user"), f"FTP account {ia.ftp.user!r} {where}"))
    if ia.as2_name and ia.as2_name == ib.as2_name:
        out.append((("identities", "as2_name"), f"AS2 name {ia.as2_name!r} {where}"))
    theirs = {m.lower() for m in ib.mail_senders}
    for i, addr in enumerate(ia.mail_senders):
        if addr.lower() in theirs:
            out.append((("identities", "mail_senders", i), f"mail sender {addr.lower()!r} {where}"))
    return out


def load_registry(folder: Path, previous: Registry | None = None) -> tuple[Registry, list[ProfileError]]:
    """Load every profile of a folder into a new registry.

    Args:
        folder: the ``partners.d`` folder; each ``*.toml`` is one partner.
        previous: the snapshot being replaced.  A file that fails to load
            keeps serving its profile from ``previous`` (same file path), so a
            typo saved during a hot reload does not take a partner offline.

    Returns:
        The new registry and every problem found, all at once.  Broken files
        are skipped (or kept at their previous version); valid ones load.
    """
    errors: list[ProfileError] = []
    try:
        files = profile_files(folder)
    except OSError as exc:
        return Registry(folder=folder), [
            ProfileError(folder, f"cannot list profile folder: {exc.strerror or exc}")
        ]
    old_by_path = {p.source_path: p for p in previous.profiles} if previous is not None else {}
    loaded: list[Profile] = []
    for path in files:
        profile, problems = load_profile(path)
        if profile is None:
            errors += problems
            kept = old_by_path.get(path)
            if kept is not None:
                errors.append(
                    ProfileError(path, f"still serving the previous version of partner {kept.id!r}")
                )
                loaded.append(kept)
            continue
        loaded.append(profile)
    # Partners already serving win a conflict: a newly dropped file must not evict them.
    loaded.sort(key=lambda p: p.source_path not in old_by_path)
    registry, conflicts = Registry.from_profiles(loaded, folder=folder)
    return registry, errors + conflicts


__all__ = ["OnChange", "Registry", "load_registry"]
