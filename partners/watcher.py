"""Hot reload: watch the profile folder and publish new registry snapshots.

watchdog reports each write, close, rename and delete; an editor saving
one file produces several.  Events only (re)arm a timer, and the folder is
reloaded once it has been quiet for ``debounce_seconds``.  A reload builds a
new :class:`Registry` from the previous one (broken files keep serving their
previous version) and calls ``on_change`` when the result differs from what
is serving, or when there are problems to report.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from .errors import ProfileError

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver

    from .registry import OnChange, Registry


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: RegistryWatcher) -> None:
        self._watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return  # reads (our own included) change nothing
        self._watcher.poke()


class RegistryWatcher:
    """Reloads the registry when profile files change.

    Args:
        folder: the profile folder.
        registry: the snapshot currently serving.
        on_change: receives each new snapshot and its problems; runs on a
            timer thread.
        debounce_seconds: quiet time before a reload.
    """

    def __init__(
        self, folder: Path, registry: Registry, on_change: OnChange, *, debounce_seconds: float = 0.5
    ) -> None:
        self.folder = folder
        self._current = registry
        self._on_change = on_change
        self._debounce = debounce_seconds
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._observer: BaseObserver | None = None
        self._stopped = False

    @property
    def current(self) -> Registry:
        """The latest snapshot."""
        with self._lock:
            return self._current

    def start(self) -> None:
        """Start watching (idempotent)."""
        if self._observer is not None:
            return
        observer = Observer()
        observer.schedule(_Handler(self), str(self.folder), recursive=False)
        observer.daemon = True
        observer.start()
        self._observer = observer

    def stop(self) -> None:
        """Stop watching and cancel a pending reload."""
        with self._lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    def __call__(self) -> None:
        """Stop watching (so the watcher can be kept as a stop callback)."""
        self.stop()

    def poke(self) -> None:
        """Note a change; the reload runs after the debounce period."""
        with self._lock:
            if self._stopped:
                return
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self._debounce, self.reload)
            self._timer.daemon = True
            self._timer.start()

    def reload(self) -> tuple[Registry, list[ProfileError]]:
        """Reload now and report through ``on_change`` when something changed.

        Returns:
            The snapshot now serving and the problems found.
        """
        from .registry import load_registry

        with self._lock:
            previous = self._current
            if self._stopped:
                return previous, []
        registry, errors = load_registry(self.folder, previous=previous)
        changed = _fingerprint(registry) != _fingerprint(previous)
        with self._lock:
            self._current = registry
        if changed or errors:
            self._on_change(registry, errors)
        return registry, errors


def _fingerprint(registry: Registry) -> tuple[tuple[str, str, str], ...]:
    return tuple((p.id, str(p.source_path), p.digest) for p in registry.profiles)


__all__ = ["RegistryWatcher"]
