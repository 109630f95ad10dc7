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
from pathlib import Path

import pytest
from edifact_snapshot import CORPUS, OPTION_SETS, generated, line, snapshot
from native_build import assert_same_lines, expect_compiled, pure_snapshot
from pure_import import is_compiled

import translators.edifact.maps.orders
import translators.edifact.reader
import translators.edifact.translator
from translators.edifact import translate_edifact

_HOT = (translators.edifact.reader, translators.edifact.translator, translators.edifact.maps.orders)


def test_the_edifact_hot_path_is_compiled_in_a_compiled_build() -> None:
    built = expect_compiled()
    names = [m.__name__ for m in _HOT]
    listed = built["modules"]
    assert isinstance(listed, list) and set(names) <= set(listed), f"NATIVE_MODULES lacks some of {names}"
    assert all(is_compiled(m) for m in _HOT), [m.__file__ for m in _HOT]


def test_compiled_output_is_identical_to_pure_python(tmp_path: Path) -> None:
    expect_compiled()
    probes = ["translators.edifact.reader", "translators.edifact.maps.orders"]
    pure = pure_snapshot("edifact_snapshot.py", probes, tmp_path / "pure.txt")
    assert_same_lines(snapshot(), pure)


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
