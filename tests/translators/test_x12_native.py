"""The mypyc build: it really compiled where it should, and compiled code behaves like its sources.

``setup.py`` compiles ``NATIVE_MODULES`` and writes ``translators/_native_build.json`` saying whether
it did and, if not, why. A build may be pure Python on purpose (``EDIGATE_PURE=1``) or because the
machine has no compiler; it must never be pure by accident where compiling was possible, since
every user would silently get the slow translator.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from pure_import import is_compiled
from x12_helpers import X12_CORPUS
from x12_snapshot import OPTION_SETS, render, snapshot

import translators
from translators.x12 import translate_x12

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MARKER = Path(translators.__file__).parent / "_native_build.json"


def _native_modules() -> list[str]:
    """NATIVE_MODULES from setup.py, as module names (read, not imported: setup.py runs setup())."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(isinstance(t, ast.Name) and t.id == "NATIVE_MODULES" for t in targets):
                assert node.value is not None
                paths = ast.literal_eval(node.value)
                return [p.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for p in paths]
    raise AssertionError("setup.py has no NATIVE_MODULES list")


def _can_compile() -> bool:
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc) is not None and Path(sysconfig.get_paths()["include"], "Python.h").is_file()


def _marker() -> dict[str, object]:
    if not MARKER.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{MARKER} is missing: the package was not installed through setup.py")
        pytest.skip("translators/_native_build.json missing: not installed through setup.py (make venv)")
    data: dict[str, object] = json.loads(MARKER.read_text(encoding="utf-8"))
    return data


def _expect_compiled() -> dict[str, object]:
    """The marker, when this build must be compiled; skips only a justified pure build."""
    marker = _marker()
    if marker["compiled"]:
        return marker
    reason = marker["reason"]
    if reason == "EDIGATE_PURE=1":
        pytest.skip("pure-Python build chosen with EDIGATE_PURE=1")
    if os.environ.get("CI") == "true" or _can_compile():
        pytest.fail(f"the translators were built as pure Python ({reason}) where they should compile")
    pytest.skip(f"pure-Python build: {reason}")
    raise AssertionError("unreachable")


def test_build_compiled_every_listed_module() -> None:
    marker = _expect_compiled()
    listed = _native_modules()
    assert listed, "NATIVE_MODULES is empty"
    # A module appended to setup.py after the last build is not compiled yet: rebuild (make venv).
    assert sorted(marker["modules"]) == sorted(listed), "the build predates setup.py's NATIVE_MODULES"  # type: ignore[call-overload]
    for name in listed:
        module = importlib.import_module(name)
        assert is_compiled(module), f"{name} was imported from {module.__file__}, not from the mypyc build"


def test_no_compiled_module_is_older_than_its_source() -> None:
    # An editable install's .so shadows the .py beside it: an edit after the build would be ignored.
    # The code is in the shared library (the per-module .so are shims an incremental build keeps).
    marker = _expect_compiled()
    library = Path(str(sys.modules[str(marker["library"])].__file__))
    built = library.stat().st_mtime
    for name in _native_modules():
        module = importlib.import_module(name)
        shim = Path(str(module.__file__))
        source = shim.parent / (
            "__init__.py" if shim.name.startswith("__init__.") else f"{name.rpartition('.')[2]}.py"
        )
        if source.is_file():
            assert built >= source.stat().st_mtime, (
                f"{source} changed after {library.name} was built: make venv"
            )


_PURE_SNAPSHOT = """
import runpy, sys
sys.path.insert(0, sys.argv[1])
from pure_import import install, is_compiled
install()
import translators.x12.reader
assert not is_compiled(translators.x12.reader), translators.x12.reader.__file__
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0] + "/x12_snapshot.py", run_name="__main__")
"""


def test_compiled_output_is_identical_to_pure_python(tmp_path: Path) -> None:
    _expect_compiled()
    out = tmp_path / "pure.txt"
    subprocess.run(
        [sys.executable, "-c", _PURE_SNAPSHOT, str(HERE), str(out)], cwd=REPO, check=True, timeout=600
    )
    pure = out.read_text(encoding="utf-8").splitlines()
    compiled = snapshot()
    assert len(pure) > 10_000  # the corpus really ran (documents, acks and errors)
    if compiled != pure:
        first = next(i for i, (a, b) in enumerate(zip(compiled, pure, strict=False)) if a != b)
        raise AssertionError(
            f"line {first}:\ncompiled {compiled[first][:600]}\npure     {pure[first][:600]}"
            if first < min(len(compiled), len(pure))
            else f"{len(compiled)} compiled lines, {len(pure)} pure"
        )


@pytest.mark.parametrize("path", sorted(X12_CORPUS.iterdir())[:12], ids=lambda p: p.name)
def test_results_survive_pickle(path: Path) -> None:
    # The gateway's worker pool returns translations by pickle, compiled or not.
    result = translate_x12(path.read_bytes(), OPTION_SETS["strict999"])
    again = pickle.loads(pickle.dumps(result))
    items = (*result.documents, *result.acks, *result.errors)
    assert [render(i) for i in (*again.documents, *again.acks, *again.errors)] == [render(i) for i in items]
    assert again.rejected == result.rejected


def test_documents_built_on_the_fast_path_have_every_field() -> None:
    # translators.x12._build sets the result dataclasses' fields without their __init__; a field
    # added to Envelope or TranslatedDocument and not to the builder would be missing here.
    data = (X12_CORPUS / "bots-plugins__856_1.x12").read_bytes()
    documents = translate_x12(data).documents
    assert documents
    for doc in documents:
        again = dataclasses.replace(doc, envelope=dataclasses.replace(doc.envelope))
        assert again == doc
        assert hash(doc.envelope) == hash(again.envelope)
