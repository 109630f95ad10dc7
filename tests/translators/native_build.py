"""What the compiled-translator tests share: is this build meant to be compiled, and pure vs compiled output.

A skip is only for a local build the user chose to keep pure (``EDIGATE_PURE=1``), a machine
with no compiler, or a checkout never installed through ``setup.py``: then there is no compiled
build to compare.  Under ``CI=true`` every pure or uninstalled build fails, and so does a pure
build where a compiler exists (a silent fallback would make the speed claims
and the equivalence tests vacuous).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import translators

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MARKER = Path(translators.__file__).parent / "_native_build.json"


def can_compile() -> bool:
    """A C compiler and this Python's headers are here."""
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc) is not None and Path(sysconfig.get_paths()["include"], "Python.h").is_file()


def marker() -> dict[str, object]:
    """The build marker setup.py wrote."""
    if not MARKER.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{MARKER} is missing: the package was not installed through setup.py")
        pytest.skip("translators/_native_build.json missing: not installed through setup.py (make venv)")
    data: dict[str, object] = json.loads(MARKER.read_text(encoding="utf-8"))
    return data


def expect_compiled() -> dict[str, object]:
    """The marker, when this build must be compiled; skips only a justified pure build."""
    built = marker()
    if built["compiled"]:
        return built
    reason = built["reason"]
    if os.environ.get("CI") == "true":
        # CI checks what users install: the compiled build, whatever the environment asked for.
        pytest.fail(f"the translators were built as pure Python ({reason}); CI must test the compiled build")
    if reason == "EDIGATE_PURE=1":
        pytest.skip("pure-Python build chosen with EDIGATE_PURE=1: there is no compiled build to compare")
    if can_compile():
        pytest.fail(f"the translators were built as pure Python ({reason}) where they should compile")
    pytest.skip(f"pure-Python build: {reason}")
    raise AssertionError("unreachable")


_PURE_SNAPSHOT = """
import importlib, runpy, sys
sys.path.insert(0, sys.argv[1])
from pure_import import install, is_compiled
install()
for name in sys.argv[3].split(","):
    module = importlib.import_module(name)
    assert not is_compiled(module), module.__file__
sys.argv = [sys.argv[1] + "/" + sys.argv[2], sys.argv[4]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def pure_snapshot(script: str, probes: list[str], out: Path) -> list[str]:
    """Run ``script`` (a snapshot module next to this one) under the pure import hook; its lines.

    ``probes`` are modules that must have come from their ``.py`` sources in that run.
    """
    subprocess.run(
        [sys.executable, "-c", _PURE_SNAPSHOT, str(HERE), script, ",".join(probes), str(out)],
        cwd=REPO,
        check=True,
        timeout=600,
    )
    return out.read_text(encoding="utf-8").splitlines()


def assert_same_lines(compiled: list[str], pure: list[str]) -> None:
    """Equal snapshots, or the first differing line of each."""
    assert len(pure) > 10_000  # the corpus really ran (events, documents, acks and errors)
    if compiled != pure:
        first = next(
            (i for i, (a, b) in enumerate(zip(compiled, pure, strict=False)) if a != b),
            min(len(compiled), len(pure)),
        )
        raise AssertionError(
            f"line {first}:\ncompiled {compiled[first][:600]}\npure     {pure[first][:600]}"
            if first < min(len(compiled), len(pure))
            else f"{len(compiled)} compiled lines, {len(pure)} pure"
        )


def write_lines(lines: list[str]) -> None:
    """A snapshot module's ``__main__``: its lines to the file named in argv, else stdout."""
    text = "\n".join(lines) + "\n"
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
