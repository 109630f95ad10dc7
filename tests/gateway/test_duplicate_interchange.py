"""A partner sending an interchange again (same sender, same ISA13) is handled by its profile's policy.

The bytes differ (a resend with a new timestamp, a corrected PO), so this is
not the byte-level duplicate intake catches: the pipeline asks the journal
whether the interchange number was seen within the window.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import partners
from gateway.journal import Intake, Journal, JournalOptions
from gateway.pipeline import Pipeline
from tests.harness import make_850


def _registry(tmp_path: Path, policy: str) -> Any:
    folder = tmp_path / "partners.d"
    folder.mkdir()
    (folder / "acme.toml").write_text(
        'id = "acme"\nname = "ACME"\n\n[identities]\ninbox = "acme"\n\n'
        '[[identities.x12]]\nqualifier = "ZZ"\nid = "ACMESENDER"\n\n'
        f'[duplicates]\npolicy = "{policy}"\nwindow_days = 30\n',
        encoding="utf-8",
    )
    registry, errors = partners.load_registry(folder)
    assert not errors, errors
    return registry


def _pipeline(journal: Journal, registry: Any, clock: Callable[[], float]) -> Pipeline:
    return Pipeline(
        journal,
        registry=lambda: registry,
        default_sinks=["out"],
        on_queued=lambda pairs: None,
        inline_max_bytes=1 << 20,
        clock=clock,
    )


def _run(tmp_path: Path, policy: str, files: list[bytes], *, together: bool, writer: str) -> list[Any]:
    registry = _registry(tmp_path, policy)

    async def main() -> list[Any]:
        options = JournalOptions(min_free_bytes=0, writer_process=writer == "process")
        journal = Journal.open(tmp_path / "state", options)
        pipeline = _pipeline(journal, registry, time.time)
        try:
            ids = []
            for data in files:
                result = await journal.append(Intake(transport="directory", data=data, partner="acme"))
                ids.append(int(result.message_id))
            if together:  # both in flight at once: their stores may share one writer batch
                await asyncio.gather(*(pipeline.process(mid) for mid in ids))
            else:
                for mid in ids:
                    await pipeline.process(mid)
            return list(
                journal.read_sync(
                    lambda c: c.execute(
                        "SELECT m.id, m.state, m.reason, (SELECT COUNT(*) FROM deliveries d"
                        " WHERE d.message_id = m.id) AS deliveries FROM messages m ORDER BY m.id"
                    ).fetchall()
                )
            )
        finally:
            journal.close()

    return asyncio.run(main())


# The same interchange number (ISA13 7), resent with another PO: different bytes.
_FIRST = make_850(7, "PO-1")
_AGAIN = make_850(7, "PO-1-RESENT")
_OTHER = make_850(8, "PO-2")


@pytest.mark.parametrize("writer", ["thread", "process"])
@pytest.mark.parametrize(
    ("policy", "verb"), [("reject", "rejected"), ("quarantine", "quarantined for review")]
)
def test_a_repeated_interchange_is_rejected_naming_the_first(
    tmp_path: Path, policy: str, verb: str, writer: str
) -> None:
    rows = _run(tmp_path, policy, [_FIRST, _AGAIN, _OTHER], together=False, writer=writer)
    assert [r["state"] for r in rows] == ["queued", "rejected", "queued"]
    assert rows[1]["reason"] == f"duplicate interchange {verb}: already received in message {rows[0]['id']}"
    assert [r["deliveries"] for r in rows] == [1, 0, 1]


def test_suppress_keeps_the_repeat_without_delivering_it_again(tmp_path: Path) -> None:
    rows = _run(tmp_path, "suppress", [_FIRST, _AGAIN], together=False, writer="process")
    assert [r["state"] for r in rows] == ["queued", "delivered"]
    assert [r["deliveries"] for r in rows] == [1, 0]


def test_accept_delivers_both(tmp_path: Path) -> None:
    rows = _run(tmp_path, "accept", [_FIRST, _AGAIN], together=False, writer="process")
    assert [r["state"] for r in rows] == ["queued", "queued"]
    assert [r["deliveries"] for r in rows] == [1, 1]


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_two_copies_translated_at_once_still_find_each_other(tmp_path: Path, writer: str) -> None:
    """The check runs in the storing transaction, so a copy stored in the same batch counts."""
    rows = _run(tmp_path, "reject", [_FIRST, _AGAIN], together=True, writer=writer)
    assert sorted(r["state"] for r in rows) == ["queued", "rejected"]
    kept = next(r for r in rows if r["state"] == "queued")
    repeat = next(r for r in rows if r["state"] == "rejected")
    assert repeat["reason"].endswith(f"already received in message {kept['id']}")


def test_a_repeat_outside_the_window_is_a_new_interchange(tmp_path: Path) -> None:
    registry = _registry(tmp_path, "reject")
    # The journal stamps interchanges with the real clock; the pipeline's
    # clock then jumps past the 30-day window.
    clock = [time.time()]

    async def main() -> list[str]:
        journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0, writer_process=True))
        pipeline = _pipeline(journal, registry, lambda: clock[0])
        try:
            first = await journal.append(Intake(transport="directory", data=_FIRST, partner="acme"))
            await pipeline.process(int(first.message_id))
            clock[0] += 31 * 86400.0
            again = await journal.append(Intake(transport="directory", data=_AGAIN, partner="acme"))
            await pipeline.process(int(again.message_id))
            return [str(r[0]) for r in journal.read_sync(lambda c: c.execute("SELECT state FROM messages"))]
        finally:
            journal.close()

    assert asyncio.run(main()) == ["queued", "queued"]


def test_the_lookup_reads_the_matching_control_numbers_not_the_senders_history(tmp_path: Path) -> None:
    """With a plain ORDER BY the planner walked every interchange of the sender in the window.

    That made each store O(interchanges of the partner in 30 days); the query
    must search by control number.
    """
    import sqlite3

    from gateway.journal import _EARLIER_INTERCHANGE, _SCHEMA

    c = sqlite3.connect(":memory:")
    c.executescript(_SCHEMA)
    c.executemany(
        "INSERT INTO interchanges VALUES ('acme', 'x12', 'ZZ:S', ?, ?, ?)",
        [(f"{n:09d}", n, float(n)) for n in range(2000)],
    )
    # No ANALYZE: the daemon never runs it, so the planner decides without statistics.
    plan = " ".join(
        str(row[3])
        for row in c.execute(
            "EXPLAIN QUERY PLAN " + _EARLIER_INTERCHANGE + " AND i.message_id != ? ORDER BY i.at LIMIT 1",
            ("acme", "x12", "ZZ:S", "000000007", 0.0, 1),
        )
    )
    assert "INDEX interchanges_key (partner=? AND standard=? AND sender=? AND control=?)" in plan, plan
