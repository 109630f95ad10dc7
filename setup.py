"""Build hook: compile the translators' hot path to C with mypyc; pure Python when that is impossible.

Everything else about the package lives in ``pyproject.toml``; this file only adds the extension
modules and a build marker. Rules:

* ``NATIVE_MODULES`` (below) is the one list of compiled modules. Append to it; keep out any module
  that defines pydantic models (mypyc cannot compile them) and ``translators/errors.py`` (results
  cross the worker pool by pickle, and mypyc's native exception classes lose ``ack_hint``,
  ``scope`` and ``location`` on unpickling). A compiled package ``__init__`` cannot import an
  uncompiled submodule at import time (its ``__path__`` is not set yet): import it in a function.
* ``EDIGATE_PURE=1``, no C compiler, or no Python headers: a one-line warning and a pure-Python
  build. The install never fails for lack of a compiler; a compiler error is a real failure.
* ``translators/_native_build.json`` records what was built (compiled or not, and why not), so a
  test can tell a deliberate pure build from a silent fallback.
* Editable installs (``pip install -e``, what ``make venv`` runs) put the ``.so`` files next to the
  sources, where they shadow the ``.py``: after editing a listed module, rebuild (``make venv``
  does it, its stamp depends on these sources). A pure editable build deletes them.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import sysconfig
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent

#: Compiled with mypyc, as one shared library (calls between them stay native). One quoted path
#: per line: the Makefile reads this list to rebuild after an edit.
NATIVE_MODULES: list[str] = [
    "translators/x12/__init__.py",
    "translators/x12/syntax.py",
    "translators/x12/reader.py",
    "translators/x12/envelope.py",
    "translators/x12/acks.py",
    "translators/x12/writer.py",
    "translators/x12/definitions/__init__.py",
    "translators/x12/definitions/checker.py",
    "translators/x12/definitions/rules.py",
    "translators/x12/definitions/segments.py",
    "translators/x12/definitions/structures.py",
    "translators/x12/maps/__init__.py",
    "translators/x12/maps/blocks.py",
    "translators/x12/maps/context.py",
    "translators/x12/maps/freight_invoice.py",
    "translators/x12/maps/functional_ack.py",
    "translators/x12/maps/inventory_advice.py",
    "translators/x12/maps/invoice.py",
    "translators/x12/maps/load_tender.py",
    "translators/x12/maps/load_tender_response.py",
    "translators/x12/maps/order_response.py",
    "translators/x12/maps/purchase_order.py",
    "translators/x12/maps/receiving_advice.py",
    "translators/x12/maps/ship_notice.py",
    "translators/x12/maps/shipment_status.py",
    "translators/x12/maps/values.py",
    "translators/x12/maps/walker.py",
    "translators/x12/maps/warehouse_lines.py",
    "translators/x12/maps/warehouse_shipping_advice.py",
    "translators/x12/maps/warehouse_shipping_order.py",
    "translators/x12/maps/warehouse_stock_transfer.py",
    "translators/edifact/__init__.py",
    "translators/edifact/syntax.py",
    "translators/edifact/charset.py",
    "translators/shapes.py",
    "translators/documents.py",
    "translators/edifact/envelope.py",
    "translators/edifact/reader.py",
    "translators/edifact/translator.py",
    "translators/edifact/acks.py",
    "translators/edifact/writer.py",
    "translators/edifact/maps/__init__.py",
    "translators/edifact/maps/acknowledgments.py",
    "translators/edifact/maps/builder.py",
    "translators/edifact/maps/desadv.py",
    "translators/edifact/maps/handlers.py",
    "translators/edifact/maps/iftmin.py",
    "translators/edifact/maps/iftsta.py",
    "translators/edifact/maps/invoic.py",
    "translators/edifact/maps/invrpt.py",
    "translators/edifact/maps/items.py",
    "translators/edifact/maps/orders.py",
    "translators/edifact/maps/ordrsp.py",
    "translators/edifact/maps/parties.py",
    "translators/edifact/maps/recadv.py",
    "translators/edifact/maps/segment.py",
    "translators/edifact/maps/validation.py",
    "translators/edifact/maps/values.py",
    "translators/edifact/maps/writer.py",
]

#: Name of the shared library, ``edigate_native__mypyc.<abi>.so``. It must be a top-level module:
#: mypyc derives a compiled package's ``__path__`` from the library's folder, taken as the root.
GROUP = "edigate_native"
MARKER = "translators/_native_build.json"


def _warn(message: str) -> None:
    print(f"edigate: WARNING: {message}", file=sys.stderr)


def _why_pure() -> str | None:
    """The reason to build pure Python, or None when mypyc can compile."""
    if os.environ.get("EDIGATE_PURE") == "1":
        return "EDIGATE_PURE=1"
    include = sysconfig.get_paths()["include"]
    if not Path(include, "Python.h").is_file():
        return f"no Python headers ({include}/Python.h; Debian: python3-dev)"
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        return f"no C compiler ({cc}; Debian: gcc)"
    try:
        import mypyc.build  # noqa: F401 - only to know it is there
    except ImportError:
        return "mypyc is not installed in the build environment"
    return None


def _module_name(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def _marker(reason: str | None) -> str:
    compiled = reason is None
    return json.dumps(
        {
            "compiled": compiled,
            "reason": reason,
            "modules": [_module_name(p) for p in NATIVE_MODULES] if compiled else [],
            "library": f"{GROUP}__mypyc" if compiled else None,
        },
        indent=1,
    )


REASON = _why_pure()


class _BuildPy(build_py):
    """Also writes the marker: into the wheel, or next to the sources for an editable install."""

    def run(self) -> None:
        super().run()
        text = _marker(REASON)
        if self.editable_mode:
            target = ROOT / MARKER
            if REASON is not None:
                _remove_inplace_extensions()
        else:
            target = Path(self.build_lib) / MARKER
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text + "\n", encoding="utf-8")


def _remove_inplace_extensions() -> None:
    # A pure editable build after a compiled one: the old .so would still shadow the .py.
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    group_lib = ROOT / (GROUP.replace(".", "/") + "__mypyc" + suffix)
    stale = [ROOT / (p.removesuffix(".py") + suffix) for p in NATIVE_MODULES] + [group_lib]
    for path in stale:
        path.unlink(missing_ok=True)


#: setup.py also runs for metadata only (egg_info, dist_info); mypyc's type check and C generation
#: take a minute, so they run only for a command that builds.
_BUILDING = bool(
    {"build", "build_ext", "bdist_wheel", "editable_wheel", "install", "develop"} & set(sys.argv)
)


def _ext_modules() -> list[object]:
    if not _BUILDING:
        return []
    if REASON is not None:
        _warn(f"building pure Python, the translators will be slower: {REASON}")
        return []
    from mypyc.build import mypycify

    # The C sources go to a folder of this build alone, under build/ (gitignored): an editable
    # install and a wheel build (packaging/build-deb.sh) may run in one checkout at the same time.
    # Each build compiles everything anyway (pip gives it fresh temp folders), so nothing is lost
    # when the folder goes at exit. The type check reads [tool.mypy] from pyproject.toml.
    target = f"build/mypyc-{os.getpid()}"
    atexit.register(shutil.rmtree, target, True)
    return list(mypycify(NATIVE_MODULES, opt_level="3", group_name=GROUP, target_dir=target))


# parallel: the ~60 one-line shim modules compile beside the one large shared library.
setup(
    ext_modules=_ext_modules(),
    cmdclass={"build_py": _BuildPy},
    options={"build_ext": {"parallel": os.cpu_count() or 1}},
)
