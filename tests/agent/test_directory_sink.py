"""The directory sink: documents written a batch at a time, each failure reported to its own delivery."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from agent.errors import PermanentDeliveryError, TransientDeliveryError
from agent.sinks.base import Delivery
from agent.sinks.directory import DirectorySink, DirectorySinkConfig, file_name_for
from gateway import filebatch

SYNC_MODES = [
    "file",
    pytest.param(
        "filesystem",
        marks=pytest.mark.skipif(not filebatch.syncfs_available(), reason="syncfs(2) is Linux-only"),
    ),
]


def _delivery(n: int, partner: str = "acme") -> Delivery:
    envelope = {"idempotency_key": f"key-{n}", "n": n}
    return Delivery(
        delivery_id=n,
        idempotency_key=f"key-{n}",
        partner=partner,
        document_type="purchase_order",
        envelope=envelope,
        body=json.dumps(envelope).encode(),
    )


def _target(root: Path, d: Delivery) -> Path:
    return root / d.partner / file_name_for(d.idempotency_key, d.document_type)


@pytest.mark.parametrize("sync", SYNC_MODES)
def test_a_burst_shares_batches_and_every_document_lands_whole(
    tmp_path: Path, sync: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = DirectorySink(DirectorySinkConfig(name="out", path=tmp_path / "out", sync=sync))  # type: ignore[arg-type]
    batches: list[int] = []
    real = filebatch.FileBatch.write

    def counting(self: filebatch.FileBatch, files: list[filebatch.PendingFile]) -> list[OSError | None]:
        batches.append(len(files))
        return real(self, files)

    monkeypatch.setattr(filebatch.FileBatch, "write", counting)
    deliveries = [_delivery(n, partner="acme" if n % 2 else "globex") for n in range(200)]

    async def main() -> None:
        await asyncio.gather(*(sink.deliver(d) for d in deliveries))
        await sink.aclose()

    asyncio.run(main())
    for d in deliveries:
        assert json.loads(_target(tmp_path / "out", d).read_bytes()) == d.envelope
    assert sum(batches) == 200
    assert len(batches) < 200, "concurrent deliveries must share batches"
    assert not list((tmp_path / "out").rglob("*.tmp")), "no temporary file may stay behind"


def test_the_same_document_delivered_twice_is_one_file(tmp_path: Path) -> None:
    sink = DirectorySink(DirectorySinkConfig(name="out", path=tmp_path / "out"))
    d = _delivery(7)
    again = Delivery(
        delivery_id=8,
        idempotency_key=d.idempotency_key,
        partner=d.partner,
        document_type=d.document_type,
        body=d.body,
    )

    async def main() -> None:
        await asyncio.gather(sink.deliver(d), sink.deliver(again))
        await sink.deliver(d)
        await sink.aclose()

    asyncio.run(main())
    assert [p.name for p in (tmp_path / "out" / "acme").iterdir()] == [_target(tmp_path / "out", d).name]


def test_a_folder_that_refuses_writes_fails_only_its_own_deliveries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tests run as root, whom a read-only folder does not stop: the
    # refusal comes from os.open, as the kernel would give it (EACCES).
    root = tmp_path / "out"
    real_open = os.open

    def refusing(path: str, flags: int, mode: int = 0o777, **kwargs: object) -> int:
        if "/locked/" in str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, mode, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refusing)
    sink = DirectorySink(DirectorySinkConfig(name="out", path=root))

    async def main() -> list[BaseException | None]:
        results = await asyncio.gather(
            sink.deliver(_delivery(1)), sink.deliver(_delivery(2, partner="locked")), return_exceptions=True
        )
        await sink.aclose()
        return list(results)

    ok, refused = asyncio.run(main())
    assert ok is None
    assert isinstance(refused, PermanentDeliveryError) and "permission denied" in str(refused)
    assert _target(root, _delivery(1)).exists()
    assert not _target(root, _delivery(2, partner="locked")).exists()


def test_a_file_that_cannot_be_written_fails_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A per-file failure (here: the partner's folder is a file, so nothing can
    # be made in it) must not fail the neighbours that share its batch.
    root = tmp_path / "out"
    root.mkdir()
    (root / "blocked").write_text("not a folder")
    sink = DirectorySink(DirectorySinkConfig(name="out", path=root))

    async def main() -> list[BaseException | None]:
        results = await asyncio.gather(
            *(sink.deliver(_delivery(n)) for n in range(5)),
            sink.deliver(_delivery(99, partner="blocked")),
            return_exceptions=True,
        )
        await sink.aclose()
        return list(results)

    results = asyncio.run(main())
    assert results[:5] == [None] * 5
    assert isinstance(results[5], TransientDeliveryError)
    assert "blocked" in str(results[5])


@pytest.mark.skipif(not filebatch.syncfs_available(), reason="syncfs(2) is Linux-only")
def test_a_failed_flush_fails_the_whole_batch_and_the_next_batch_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = DirectorySink(DirectorySinkConfig(name="out", path=tmp_path / "out", sync="filesystem"))
    real = filebatch.syncfs
    broken = {"on": True}

    def syncfs(fd: int) -> None:
        if broken["on"]:
            raise OSError(5, "syncfs: Input/output error")
        real(fd)

    monkeypatch.setattr(filebatch, "syncfs", syncfs)

    async def main() -> tuple[list[BaseException | None], None]:
        failed = await asyncio.gather(*(sink.deliver(_delivery(n)) for n in range(3)), return_exceptions=True)
        broken["on"] = False
        again = await sink.deliver(_delivery(0))
        await sink.aclose()
        return list(failed), again

    failed, again = asyncio.run(main())
    assert all(isinstance(e, TransientDeliveryError) and "Input/output error" in str(e) for e in failed)
    assert again is None
    assert _target(tmp_path / "out", _delivery(0)).exists()
    assert not _target(tmp_path / "out", _delivery(1)).exists(), "an unflushed document must not appear"


def test_a_cancelled_delivery_does_not_disturb_its_batch(tmp_path: Path) -> None:
    sink = DirectorySink(DirectorySinkConfig(name="out", path=tmp_path / "out"))

    async def main() -> None:
        first = asyncio.ensure_future(sink.deliver(_delivery(1)))
        second = asyncio.ensure_future(sink.deliver(_delivery(2)))
        await asyncio.sleep(0)
        first.cancel()
        await second
        await sink.aclose()
        with pytest.raises(asyncio.CancelledError):
            await first

    asyncio.run(main())
    assert _target(tmp_path / "out", _delivery(2)).exists()
