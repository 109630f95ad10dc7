"""Long-budget fuzzing of every reader (``make fuzz``): atheris when installed, else a mutation loop.

The targets and the invariant are those of ``tests/reliability/fuzzlib.py``: a
result or the reader's own error, never another exception.  Each target runs
in its own child process for ``--seconds`` (atheris: coverage-guided, seeded
with the corpus; ``-rss_limit_mb`` bounds memory), and the child's executions,
peak RSS and findings are collected.  Findings (the crashing inputs) are kept
under ``--out``.  The figures go to ``tests/reliability/FIGURES.md``.

    .venv/bin/python bench/fuzz.py --seconds 120            # every target
    .venv/bin/python bench/fuzz.py --target x12 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RSS_LIMIT_MB = 1024


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_atheris(name: str, seconds: int, out: Path) -> int:
    import atheris

    # instrument only our packages (instrument_all() takes minutes on 10k functions)
    with atheris.instrument_imports(include=["translators", "gateway", "partners"]):
        from tests.reliability.fuzzlib import FuzzFinding, build_targets

    target = build_targets()[name]
    corpus = out / f"corpus-{name}"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(target.seeds):
        (corpus / f"seed-{i}").write_bytes(seed)

    def one(data: bytes) -> None:
        try:
            target.run(data)
        except FuzzFinding:
            raise

    args = [
        sys.argv[0], str(corpus), f"-max_total_time={seconds}", f"-rss_limit_mb={RSS_LIMIT_MB}",
        "-print_final_stats=1", f"-artifact_prefix={out}/{name}-", "-max_len=65536", "-timeout=20",
    ]  # fmt: skip
    atheris.Setup(args, one)
    atheris.Fuzz()
    return 0


def child_loop(name: str, seconds: int, out: Path) -> int:
    from tests.reliability.fuzzlib import FuzzFinding, build_targets, mutate

    target = build_targets()[name]
    rng = random.Random(int(time.time()))
    execs = 0
    findings: dict[str, str] = {}
    start_rss = _rss_mb()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data = mutate(rng, rng.choice(target.seeds), rounds=8)
        execs += 1
        try:
            target.run(data)
        except FuzzFinding as exc:
            key = str(exc)[:160]
            if key not in findings:
                path = out / f"{name}-finding-{len(findings)}"
                path.write_bytes(data)
                findings[key] = str(path)
        if _rss_mb() > RSS_LIMIT_MB:
            findings[f"rss over {RSS_LIMIT_MB} MB"] = ""
            break
    print(
        json.dumps(
            {"execs": execs, "findings": findings, "rss_start_mb": start_rss, "rss_peak_mb": _rss_mb()}
        )
    )
    return 0


def run_target(name: str, seconds: int, out: Path, engine: str) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        name,
        "--seconds",
        str(seconds),
        "--out",
        str(out),
        "--engine",
        engine,
    ]
    started = time.monotonic()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=seconds * 3 + 300, check=False, cwd=REPO
    )
    text = proc.stdout + proc.stderr
    row: dict[str, Any] = {"target": name, "engine": engine, "seconds": round(time.monotonic() - started)}
    if engine == "atheris":
        execs = re.search(r"stat::number_of_executed_units:\s*(\d+)", text)
        rss = re.search(r"stat::peak_rss_mb:\s*(\d+)", text)
        row["execs"] = int(execs.group(1)) if execs else _last_exec_count(text)
        row["rss_peak_mb"] = int(rss.group(1)) if rss else None
        crashes = sorted(str(p) for p in out.glob(f"{name}-crash-*")) + sorted(
            str(p) for p in out.glob(f"{name}-oom-*")
        )
        uncaught = re.findall(r"=== Uncaught Python exception: ===\s*\n(.*)", text)
        row["findings"] = [*uncaught[:3], *crashes[:3]] if (crashes or uncaught or proc.returncode) else []
        if proc.returncode not in (0,) and not row["findings"]:
            row["findings"] = [f"exit {proc.returncode}: {text[-300:]}"]
    else:
        last = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if not last:
            row.update(execs=0, rss_peak_mb=None, findings=[f"child failed: {text[-500:]}"])
        else:
            data = json.loads(last[-1])
            row.update(
                execs=data["execs"], rss_peak_mb=round(data["rss_peak_mb"]), findings=list(data["findings"])
            )
    return row


def _last_exec_count(text: str) -> int:
    counts = re.findall(r"^#(\d+)\s", text, re.M)
    return int(counts[-1]) if counts else 0


def write_figures(rows: list[dict[str, Any]], seconds: int) -> None:
    lines = [
        f"Last `make fuzz` run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{seconds} s per target, engine {rows[0]['engine'] if rows else '-'}, RSS limit {RSS_LIMIT_MB} MB.",
        "",
        "| target | inputs executed | peak RSS (MB) | findings |",
        "|---|---:|---:|---|",
    ]
    for r in rows:
        found = "; ".join(str(f)[:120] for f in r["findings"]) or "none"
        lines.append(f"| {r['target']} | {r['execs']} | {r['rss_peak_mb']} | {found} |")
    lines.append(
        f"| **total** | {sum(int(r['execs']) for r in rows)} | | {sum(len(r['findings']) for r in rows)} |"
    )
    update_figures("fuzz", "\n".join(lines))


def update_figures(section: str, body: str) -> None:
    """Replace one ``<!-- section -->`` block of tests/reliability/FIGURES.md."""
    path = REPO / "tests" / "reliability" / "FIGURES.md"
    text = path.read_text() if path.exists() else "# Reliability figures\n"
    start, end = f"<!-- {section} -->", f"<!-- /{section} -->"
    block = f"{start}\n{body}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + f"\n\n## {section}\n{block}\n"
    path.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "120")))
    ap.add_argument("--target", action="append", help="only this target (repeatable)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--engine", choices=["auto", "atheris", "loop"], default="auto")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--no-figures", action="store_true")
    args = ap.parse_args()
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "loop"
    if args.child:
        assert args.out is not None
        return (child_atheris if engine == "atheris" else child_loop)(args.child, args.seconds, args.out)
    from tests.reliability.fuzzlib import build_targets

    names = args.target or sorted(build_targets())
    out = args.out or Path(tempfile.mkdtemp(prefix="edigate-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        row = run_target(name, args.seconds, out, engine)
        print(json.dumps(row), flush=True)
        rows.append(row)
    if not args.no_figures:
        write_figures(rows, args.seconds)
    print(f"inputs and findings kept in {out}")
    return 1 if any(r["findings"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
