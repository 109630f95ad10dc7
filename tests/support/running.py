"""Run an intake source on its own event loop in a thread, as a real listener for real clients."""

from __future__ import annotations

import asyncio
import threading
from typing import Any


class RunningSource:
    """A network source (SFTP, SMTP...) running on its own event loop in a thread, for tests."""

    def __init__(self, source: Any, journal: Any) -> None:
        self.source, self.journal = source, journal
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        async def body() -> None:
            ready = asyncio.Event()
            self._task = asyncio.create_task(self.source.run(self.journal, ready))
            waiter = asyncio.create_task(ready.wait())
            await asyncio.wait({self._task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if self._task.done() and not self._task.cancelled():
                self._error = self._task.exception()
            self._ready.set()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            finally:
                waiter.cancel()

        try:
            self._loop.run_until_complete(body())
        except BaseException as exc:  # reported to the test thread in stop()
            self._error = self._error or exc
            self._ready.set()
        finally:
            self._loop.close()

    @property
    def port(self) -> int:
        assert self.source.bound_port is not None
        return int(self.source.bound_port)

    def start(self) -> RunningSource:
        self._thread.start()
        assert self._ready.wait(30), f"{self.source.name} did not start"
        if self._error is not None:
            raise self._error
        assert self.source.bound_port is not None, f"{self.source.name} stopped before listening"
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(60)
        assert not self._thread.is_alive(), f"{self.source.name} did not stop"
        if self._error is not None:
            raise self._error
