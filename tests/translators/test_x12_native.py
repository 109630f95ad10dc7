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
import pickle
import sys
from pathlib import Path

import pytest
from native_build import assert_same_lines, expect_compiled, pure_snapshot
from pure_import import is_compiled
from x12_helpers import X12_CORPUS
from x12_snapshot import OPTION_SETS, render, snapshot

from translators.x12 import translate_x12

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


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


def test_build_compiled_every_listed_module() -> None:
    marker = expect_compiled()
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
    marker = expect_compiled()
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


def test_compiled_output_is_identical_to_pure_python(tmp_path: Path) -> None:
    expect_compiled()
    pure = pure_snapshot("x12_snapshot.py", ["translators.x12.reader"], tmp_path / "pure.txt")
    assert_same_lines(snapshot(), pure)


@pytest.mark.parametrize("path", sorted(X12_CORPUS.iterdir())[:12], ids=lambda p: p.name)
def test_results_survive_pickle(path: Path) -> None:
    # The gateway's worker pool returns translations by pickle, compiled or not.
    result = translate_x12(path.read_bytes(), OPTION_SETS["strict999"])
    again = pickle.loads(pickle.dumps(result))
    items = (*result.documents, *result.acks, *result.errors)
    assert [render(i) for i in (*again.documents, *again.acks, *again.errors)] == [render(i) for i in items]
    assert again.rejected == result.rejected


def test_documents_built_on_the_fast_path_have_every_field() -> None:
    # translators.x12 sets the result dataclasses' fields without their __init__ (_build, and its
    # inlined copy in _Session._document); a field added to Envelope or TranslatedDocument and not
    # to the builders would be missing here.
    data = (X12_CORPUS / "bots-plugins__856_1.x12").read_bytes()
    documents = translate_x12(data).documents
    assert documents
    for doc in documents:
        again = dataclasses.replace(doc, envelope=dataclasses.replace(doc.envelope))
        assert again == doc
        assert hash(doc.envelope) == hash(again.envelope)
