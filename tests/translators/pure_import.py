"""An import hook that loads ``translators.*`` from the ``.py`` sources even where a mypyc ``.so`` exists.

An editable install compiles the modules in place, next to their sources, and the regular path
finder prefers the extension module. Installing :class:`PureTranslators` first in ``sys.meta_path``
(before anything from ``translators`` is imported) runs the same code as plain Python, so the
compiled build can be compared with its own sources in one checkout: the equivalence test and
``bench/bench_x12.py`` use it in a subprocess.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

_PREFIX = "translators."


class PureTranslators:
    """Meta-path finder: ``translators`` submodules from their ``.py`` files, never an extension."""

    @classmethod
    def find_spec(
        cls, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(_PREFIX) or path is None:
            return None
        leaf = fullname.rpartition(".")[2]
        for entry in path:
            package = Path(entry, leaf, "__init__.py")
            if package.is_file():
                return importlib.util.spec_from_file_location(
                    fullname, package, submodule_search_locations=[str(package.parent)]
                )
            module = Path(entry, leaf + ".py")
            if module.is_file():
                return importlib.util.spec_from_file_location(fullname, module)
        return None


def install() -> None:
    """Put the hook first; refuse if a translators submodule is already imported (too late)."""
    loaded = [name for name in sys.modules if name.startswith(_PREFIX)]
    if loaded:
        raise RuntimeError(f"install the pure import hook before importing {loaded[0]}")
    sys.meta_path.insert(0, PureTranslators)


def is_compiled(module: ModuleType) -> bool:
    """Whether ``module`` was loaded from an extension module (a mypyc build)."""
    origin = getattr(module, "__file__", None) or ""
    return origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
