"""Hot reload: a valid change replaces a partner; a broken file keeps the old version serving."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path

import pytest

from partners import ProfileError, Registry, RegistryWatcher, load_registry

ALPHA = 'id = "alpha"\nname = "Alpha v1"\n[identities]\nx12 = [{ qualifier = "ZZ", id = "ALPHA" }]\n'
BETA = 'id = "beta"\nname = "Beta"\n[identities]\ninbox = "beta"\n'
BROKEN_ALPHA = 'id = "alpha"\nname = "Alpha v2"\n[identities]\nx12 = [{ qualifier = "ZZZZ", id = "ALPHA" }]\n'
WAIT = 30.0  # generous upper bound for inotify + debounce on a loaded CI machine; not a threshold

Event = tuple[Registry, list[ProfileError]]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "alpha.toml").write_text(ALPHA, encoding="utf-8")
    (tmp_path / "beta.toml").write_text(BETA, encoding="utf-8")
    return tmp_path


@pytest.fixture
def watched(folder: Path) -> Iterator[tuple[RegistryWatcher, queue.Queue[Event]]]:
    events: queue.Queue[Event] = queue.Queue()
    initial, errors = load_registry(folder)
    assert errors == []
    watcher = Registry.watch(
        folder, lambda reg, errs: events.put((reg, errs)), debounce_seconds=0.2, previous=initial
    )
    try:
        yield watcher, events
    finally:
        watcher()  # calling the watcher stops it (the daemon keeps it as its stop callback)


def _save(path: Path, text: str) -> None:
    # write-then-rename, as editors and config management do
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def test_broken_edit_keeps_the_previous_version_serving(
    folder: Path, watched: tuple[RegistryWatcher, queue.Queue[Event]]
) -> None:
    watcher, events = watched
    _save(folder / "alpha.toml", BROKEN_ALPHA)
    registry, errors = events.get(timeout=WAIT)
    alpha = registry.get("alpha")
    assert alpha is not None and alpha.name == "Alpha v1"
    assert registry.identify_interchange("x12", "ZZ", "ALPHA", None, None) is alpha
    located = [e for e in errors if e.field == "identities.x12[0].qualifier"]
    assert located and located[0].line == 4 and located[0].file == folder / "alpha.toml"
    assert any("still serving the previous version of partner 'alpha'" in e.reason for e in errors)
    assert watcher.current is registry

    fixed = BROKEN_ALPHA.replace('"ZZZZ"', '"ZZ"')
    _save(folder / "alpha.toml", fixed)
    registry, errors = events.get(timeout=WAIT)
    while registry.get("alpha") is None or registry.get("alpha").name != "Alpha v2":  # type: ignore[union-attr]
        registry, errors = events.get(timeout=WAIT)
    assert errors == []
    assert registry.get("beta") is not None


def test_added_and_removed_files(folder: Path, watched: tuple[RegistryWatcher, queue.Queue[Event]]) -> None:
    _, events = watched
    _save(folder / "gamma.toml", BETA.replace("beta", "gamma"))
    registry, _ = events.get(timeout=WAIT)
    while registry.get("gamma") is None:
        registry, _ = events.get(timeout=WAIT)
    (folder / "beta.toml").unlink()
    while registry.get("beta") is not None:
        registry, _ = events.get(timeout=WAIT)
    assert {p.id for p in registry.profiles} == {"alpha", "gamma"}


def test_reload_without_changes_reports_nothing(folder: Path) -> None:
    calls: list[Event] = []
    initial, _ = load_registry(folder)
    watcher = RegistryWatcher(folder, initial, lambda r, e: calls.append((r, e)))
    registry, errors = watcher.reload()  # synchronous: no watchdog thread involved
    assert errors == [] and calls == []
    assert [p.id for p in registry.profiles] == ["alpha", "beta"]
    (folder / "beta.toml").write_text(BETA.replace('"Beta"', '"Beta 2"'), encoding="utf-8")
    registry, _ = watcher.reload()
    assert len(calls) == 1 and calls[0][0] is registry
    beta = registry.get("beta")
    assert beta is not None and beta.name == "Beta 2"
    assert initial.get("beta") is not None and initial.get("beta").name == "Beta"  # type: ignore[union-attr]
