"""The mypyc build of the EDIFACT modules behaves exactly like their ``.py`` sources.

``setup.py`` lists the EDIFACT hot path in ``NATIVE_MODULES``; ``test_x12_native.py`` checks that
every listed module really was compiled (no silent fallback) and that no ``.so`` is older than its
source.  This file adds the EDIFACT side of the promise: over the corpus, mutations, chunkings and
option sets (:mod:`edifact_snapshot`), the compiled modules give the same documents, JSON bytes,
CONTRL acks, errors, reader events and outbound segments as the pure-Python sources run through
the import hook in a subprocess; and compiled results survive the worker pool's pickling.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from edifact_snapshot import CORPUS, OPTION_SETS, generated, line, snapshot
from pure_import import is_compiled

import translators.edifact.maps.orders
import translators.edifact.reader
import translators.edifact.translator
from translators.edifact import translate_edifact

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

_PURE_SNAPSHOT = """
import runpy, sys
sys.path.insert(0, sys.argv[1])
from pure_import import install, is_compiled
install()
import translators.edifact.reader, translators.edifact.maps.orders
assert not is_compiled(translators.edifact.reader), translators.edifact.reader.__file__
assert not is_compiled(translators.edifact.maps.orders), translators.edifact.maps.orders.__file__
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0] + "/edifact_snapshot.py", run_name="__main__")
"""

_HOT = (translators.edifact.reader, translators.edifact.translator, translators.edifact.maps.orders)


def _compiled_build() -> None:
    # Whether the build should have compiled is test_x12_native's business (marker, compiler,
    # EDIGATE_PURE); here a pure build simply has nothing to compare.
    if not all(is_compiled(m) for m in _HOT):
        pytest.skip("the EDIFACT modules are not compiled in this build (see test_x12_native.py)")


def test_compiled_output_is_identical_to_pure_python(tmp_path: Path) -> None:
    _compiled_build()
    out = tmp_path / "pure.txt"
    subprocess.run(
        [sys.executable, "-c", _PURE_SNAPSHOT, str(HERE), str(out)], cwd=REPO, check=True, timeout=600
    )
    pure = out.read_text(encoding="utf-8").splitlines()
    compiled = snapshot()
    assert len(pure) > 10_000  # the corpus really ran (events, documents, acks and errors)
    if compiled != pure:
        first = next(i for i, (a, b) in enumerate(zip(compiled, pure, strict=False)) if a != b)
        raise AssertionError(
            f"line {first}:\ncompiled {compiled[first][:600]}\npure     {pure[first][:600]}"
            if first < min(len(compiled), len(pure))
            else f"{len(compiled)} compiled lines, {len(pure)} pure"
        )


@pytest.mark.parametrize(
    "name",
    [*sorted(p.name for p in CORPUS.iterdir())[:10], "generated"] if CORPUS.is_dir() else ["generated"],
)
def test_results_survive_pickle(name: str) -> None:
    # The gateway's worker pool returns translations by pickle, compiled or not.
    data = generated(3, unique=False) if name == "generated" else (CORPUS / name).read_bytes()
    result = translate_edifact(data, OPTION_SETS["strict"])
    again = pickle.loads(pickle.dumps(result))
    items = (*result.documents, *result.acks, *result.errors)
    assert [line("", i) for i in (*again.documents, *again.acks, *again.errors)] == [
        line("", i) for i in items
    ]
    assert again.rejected == result.rejected
