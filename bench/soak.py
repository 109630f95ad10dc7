"""Long soak of the fault scenarios (``make soak``): the ``tests/reliability`` scenarios at full size.

* SIGKILL rounds during a mixed stream (directory + AS2 + FTPS): 20 rounds, 1,000 messages;
* SIGHUP-then-SIGKILL mid-reload rounds;
* sink outage with 10,000 messages queued, then restored.

Each scenario ends with the same audit as the tests (``Site.audit``).  The
figures go to ``tests/reliability/FIGURES.md``.  Sizes can be lowered for a
quick check: ``bench/soak.py --messages 200 --rounds 4 --queued 1000``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def write_figures(rows: list[dict[str, Any]], seed: int) -> None:
    from fuzz import update_figures

    lines = [
        f"Last `make soak` run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, seed {seed}.",
        "",
        "| scenario | intakes | result | rounds (kills / HUPs) | acknowledged | delivered | queued in outage | s |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r.get('intakes', '-')} | {r['result']} | {r.get('kills', '-')} / {r.get('hups', '-')} | "
            f"{r.get('acked', '-')} | {r.get('delivered', '-')} | {r.get('queued_during_outage', '-')} | "
            f"{r['seconds']} |"
        )
    update_figures("soak", "\n".join(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--hup-rounds", type=int, default=5)
    ap.add_argument("--queued", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--no-figures", action="store_true")
    args = ap.parse_args()

    import tests.reliability.test_fault_pipeline as faults
    from tests.reliability.site import Site

    faults.TIME_LIMIT = 3 * 3600.0
    rows: list[dict[str, Any]] = []
    failures = 0

    def scenario(name: str, fn: Any) -> None:
        nonlocal failures
        root = Path(tempfile.mkdtemp(prefix=f"edigate-soak-{name}-"))
        site = Site(root)
        started = time.monotonic()
        try:
            figures = fn(site)
            result = "ok"
        except (AssertionError, RuntimeError) as exc:
            figures, result = {}, f"FAILED: {str(exc)[:300]}"
            failures += 1
        finally:
            site.gw.kill()
        row = {
            "scenario": name,
            "result": result,
            "seconds": round(time.monotonic() - started),
            "root": str(root),
        }
        row.update({k: v for k, v in figures.items() if k != "final_states"})
        row["intakes"] = "+".join(sorted(site.ledger.acked)) or "-"
        print(json.dumps(row, default=str), flush=True)
        rows.append(row)
        if not args.no_figures:
            write_figures(rows, args.seed)

    scenario(
        "sigkill",
        lambda s: faults.run_kill_rounds(
            s, messages=args.messages, kills=args.rounds, seed=args.seed, settle=1800
        ),
    )
    scenario(
        "sighup+sigkill",
        lambda s: faults.run_kill_rounds(
            s,
            messages=max(args.messages // 4, 30),
            kills=args.hup_rounds,
            seed=args.seed + 1,
            hup=True,
            settle=1800,
        ),
    )
    scenario("sink-outage", lambda s: faults.run_sink_outage(s, messages=args.queued, settle=3600))

    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
