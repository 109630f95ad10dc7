"""STYLE.md import rules, checked on the AST of every module.

* translators import no other package of ours;
* partners imports translators only;
* gateway imports translators and partners; only gateway/daemon.py imports agent;
* agent imports translators.models and gateway's journal/errors/states (and file helpers: spool,
  resources, iopool) only — never an EDI reader;
  the one exception is ``partners.permissions``, the secret-file mode check (stdlib only), which
  lives in partners because partners (profiles) needs it too and may import nothing but translators.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OURS = {"gateway", "translators", "partners", "agent"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append(mod)
            out.extend(f"{mod}.{a.name}" for a in node.names)
    return [m for m in out if m.split(".")[0] in OURS]


def _modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def test_translators_import_nothing_of_ours() -> None:
    for path in _modules("translators"):
        for mod in _imports(path):
            assert mod.startswith("translators"), f"{path.relative_to(REPO)} imports {mod}"


def test_partners_import_only_translators() -> None:
    for path in _modules("partners"):
        for mod in _imports(path):
            assert mod.split(".")[0] in {"partners", "translators"}, f"{path.relative_to(REPO)} imports {mod}"


def test_only_the_daemon_imports_agent() -> None:
    for path in _modules("gateway"):
        for mod in _imports(path):
            if mod.split(".")[0] == "agent":
                assert path.name == "daemon.py", f"{path.relative_to(REPO)} imports {mod}"


def test_agent_never_imports_an_edi_reader() -> None:
    allowed_gateway = (
        "gateway.journal",
        "gateway.errors",
        "gateway.states",
        "gateway.spool",
        "gateway.resources",
        "gateway.iopool",
        "gateway.filebatch",
    )
    for path in _modules("agent"):
        for mod in _imports(path):
            top = mod.split(".")[0]
            if top == "translators":
                assert mod.startswith("translators.models"), f"{path.relative_to(REPO)} imports {mod}"
            elif top == "gateway":
                assert mod.startswith(allowed_gateway), f"{path.relative_to(REPO)} imports {mod}"
            elif top == "partners":
                assert mod.startswith("partners.permissions"), f"{path.relative_to(REPO)} imports {mod}"
            else:
                assert top == "agent", f"{path.relative_to(REPO)} imports {mod}"


def test_the_rules_are_checked_on_real_files() -> None:
    assert len(_modules("translators")) > 5 and len(_modules("gateway")) > 5
    assert any("agent" in m for m in _imports(REPO / "gateway" / "daemon.py"))
