"""Interchange sequence check: numbers are judged in number order once the backlog is translated.

Files arrive and are translated concurrently and out of order; a gap may
only be reported when the missing number cannot still be on its way.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path

import pytest

from gateway.journal import Intake, Journal, JournalOptions


async def _receive(j: Journal, count: int) -> list[int]:
    out = []
    for _ in range(count):
        r = await j.append(Intake(transport="t", data=b"file %d" % time.monotonic_ns(), partner="acme"))
        out.append(int(r.message_id))
    return out


async def _store(j: Journal, mid: int, *controls: str, sender: str = "SENDER") -> None:
    await j.store_translation(
        mid,
        partner="acme",
        standard="x12",
        documents=[],
        sinks=[],
        interchanges=[(sender, c) for c in controls],
        check_sequence=True,
    )


def _events(j: Journal) -> list[tuple[str, str, int]]:
    query = "SELECT detail FROM events WHERE kind = 'out_of_sequence' ORDER BY rowid"
    rows = [json.loads(r[0]) for r in j.read_sync(lambda c: c.execute(query).fetchall())]
    return [(r["previous"], r["received"], r["message_id"]) for r in rows]


def _reason(j: Journal, mid: int) -> str:
    query = "SELECT reason FROM history WHERE message_id = ?"
    rows = j.read_sync(lambda c: c.execute(query, (mid,)).fetchall())
    return " ".join(r[0] or "" for r in rows)


def _journal(tmp: Path) -> Journal:
    return Journal.open(tmp / "s", JournalOptions(min_free_bytes=0))


@pytest.mark.parametrize("arrival", list(itertools.permutations(range(4))))
def test_consecutive_numbers_arriving_and_translated_in_any_order_never_warn(
    tmp_path: Path, arrival: tuple[int, ...]
) -> None:
    async def main() -> list[tuple[str, str, int]]:
        j = _journal(tmp_path)
        first = await _receive(j, 1)
        await _store(j, first[0], "000000100")  # the partner's history: 100 was judged
        ids = await _receive(j, 4)
        # file k carries 101 + arrival[k]; translation finishes in reverse order
        for k in reversed(range(4)):
            await _store(j, ids[k], f"{101 + arrival[k]:09d}")
        events = _events(j)
        j.close()
        return events

    assert asyncio.run(main()) == []


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_gap_is_reported_once_whatever_the_order(tmp_path: Path, order: tuple[int, ...]) -> None:
    controls = ["000000101", "000000102", "000000105"]

    async def main() -> None:
        j = _journal(tmp_path)
        ids = await _receive(j, 3)
        for k in order:
            await _store(j, ids[k], controls[k])
        assert _events(j) == [("000000102", "000000105", ids[2])]
        if order[-1] == 2:  # 105 completed the backlog: its own history says why
            assert "expected 000000103 after 000000102" in _reason(j, ids[2])
        assert "out of sequence" not in _reason(j, ids[1])
        j.close()

    asyncio.run(main())


def test_nothing_is_judged_while_the_backlog_waits_and_the_sweep_judges_old_numbers(tmp_path: Path) -> None:
    async def main() -> None:
        j = _journal(tmp_path)
        a, b, c = await _receive(j, 3)
        await _store(j, a, "000000001")
        await _store(j, c, "000000004")
        assert _events(j) == [], "b is not translated yet and may carry 2 or 3"
        assert await j.sweep_sequences(time.time() - 3600) == 0, "nothing is old enough yet"
        assert await j.sweep_sequences(time.time() + 1) == 1
        assert _events(j) == [("000000001", "000000004", c)]
        await _store(j, b, "000000002")  # a late number fills the hole: no new event
        assert _events(j) == [("000000001", "000000004", c)]
        j.close()

    asyncio.run(main())


def test_a_counter_reset_is_reported_and_the_new_series_is_followed(tmp_path: Path) -> None:
    async def main() -> None:
        j = _journal(tmp_path)
        for control in ("000000500", "000000501", "000000001", "000000002", "000000004"):
            (mid,) = await _receive(j, 1)
            await _store(j, mid, control)
        got = [(p, r) for p, r, _ in _events(j)]
        assert got == [("000000501", "000000001"), ("000000002", "000000004")]
        j.close()

    asyncio.run(main())


def test_a_mailbag_is_checked_inside(tmp_path: Path) -> None:
    async def main() -> None:
        j = _journal(tmp_path)
        a, b = await _receive(j, 2)
        await _store(j, a, "000000010", "000000011", "000000013")
        await _store(j, b, "000000014")
        assert _events(j) == [("000000011", "000000013", a)]
        j.close()

    asyncio.run(main())


def test_senders_are_judged_apart(tmp_path: Path) -> None:
    async def main() -> None:
        j = _journal(tmp_path)
        for sender, control in (
            ("A", "000000001"),
            ("B", "000000007"),
            ("A", "000000002"),
            ("B", "000000008"),
        ):
            (mid,) = await _receive(j, 1)
            await _store(j, mid, control, sender=sender)
        assert _events(j) == []
        j.close()

    asyncio.run(main())
