"""EDIFACT throughput and memory, measured against references in the same run.

Usage::

    .venv/bin/python bench/bench_edifact.py [--messages 10000] [--rounds 3] [--big-mb 1024]

Prints, for one generated interchange of ORDERS (about 40 segments each):

1. pydifact ``Interchange.from_str`` + ``get_messages`` vs our full
   translation (reader + envelope checks + map when present + JSON of each
   document, encoded the way the gateway does: ``orjson.dumps(document,
   option=orjson.OPT_SORT_KEYS, default=str)``): the ratio (goal >= 30x);
2. our MB/s (reader alone, and full translation) vs a plain split tokenizer
   (decode, split segments, elements and components: no release character,
   no checks), as a percentage of that floor (goal >= 40 %);
3. peak RSS of ``iter_translate_edifact`` over a generated file of
   ``--big-mb`` MB (one interchange, documents released as read), in a
   subprocess (goal <= 100 MB).  The file is written to a temporary
   directory and deleted afterwards.

Times are CPU seconds of this process (``time.process_time``, so other load
on the machine does not skew the ratios), medians over ``--rounds`` rounds,
methods alternating within a round.  The RSS child reports wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from translators.edifact import EdifactReader, iter_translate_edifact, translate_edifact
from translators.edifact.syntax import NEED_DATA
from translators.options import TranslatorOptions

_SORTED = orjson.OPT_SORT_KEYS


def dumps(document: Any) -> bytes:
    """One canonical document as JSON, exactly as the gateway pipeline encodes it."""
    return orjson.dumps(document, option=_SORTED, default=str)


def _message(n: int) -> list[str]:
    ref = f"M{n:07d}"
    segs = [
        f"UNH+{ref}+ORDERS:D:96A:UN:EAN008",
        f"BGM+220+PO{n:08d}+9",
        "DTM+137:20240115:102",
        "DTM+2:20240120:102",
        "DTM+64:202401200800:203",
        "FTX+DEL+++DOCK 5?+6?: CALL AHEAD?'S OK",
        f"RFF+CT:CONTRACT{n % 97}",
        "NAD+BY+5412345000013::9",
        "CTA+PD+:JOHN SMITH",
        "COM+0032123456789:TE",
        "NAD+SU+4012345500004::9",
        "NAD+DP+5412345000020::9",
        "NAD+IV+5412345000037::9",
        "CUX+2:EUR:9",
    ]
    for line in range(1, 7):
        segs += [
            f"LIN+{line}++{5400000000000 + n * 10 + line}:EN",
            f"PIA+1+SKU{line:04d}:SA",
            f"IMD+F++:::ITEM DESCRIPTION {line}",
            f"QTY+21:{line * 12}:PCE",
            f"PRI+AAA:{line}.95",
        ]
    segs += ["UNS+S", "CNT+2:6"]
    segs.append(f"UNT+{len(segs) + 1}+{ref}")
    return segs


def generate(messages: int, control: str = "1") -> bytes:
    """One interchange with ``messages`` ORDERS, one segment per line."""
    out = ["UNA:+.? '", f"UNB+UNOC:3+5412345000013:14+4012345500004:14+240115:1200+{control}"]
    for n in range(messages):
        out.extend(_message(n))
    out.append(f"UNZ+{messages}+{control}")
    return (out[0] + "\n" + "'\n".join(out[1:]) + "'\n").encode("latin-1")


def generate_file(path: Path, megabytes: int) -> int:
    """Write one interchange of about ``megabytes`` MB without holding it in memory.

    Messages go in UNG groups of 100,000: UNZ 0036 and UNE 0060 are n..6
    (ISO 9735), so one interchange cannot count a million messages directly.
    """
    target = megabytes * 1024 * 1024
    written = 0
    count = 0
    groups = 0
    with path.open("wb") as fh:
        head = b"UNA:+.? '\nUNB+UNOC:3+5412345000013:14+4012345500004:14+240115:1200+1'\n"
        fh.write(head)
        written += len(head)
        while written < target:
            groups += 1
            fh.write(
                f"UNG+ORDERS+5412345000013:14+4012345500004:14+240115:1200+G{groups}+UN+D:96A'\n".encode()
            )
            in_group = 0
            while in_group < 100_000 and written < target:
                msgs = range(count, count + 1000)
                block = ("'\n".join(seg for n in msgs for seg in _message(n)) + "'\n").encode()
                fh.write(block)
                written += len(block)
                count += 1000
                in_group += 1000
            fh.write(f"UNE+{in_group}+G{groups}'\n".encode())
        fh.write(f"UNZ+{groups}+1'\n".encode())
    return count


def plain_split(data: bytes) -> int:
    """The floor: decode and split, nothing else."""
    n = 0
    for seg in data.decode("latin-1").split("'"):
        for el in seg.split("+"):
            if ":" in el:
                el.split(":")
        n += 1
    return n


def pydifact_parse(text: str) -> int:
    from pydifact.segmentcollection import Interchange

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ic = Interchange.from_str(text)
        return sum(1 for _ in ic.get_messages())


def reader_only(data: bytes) -> int:
    r = EdifactReader(TranslatorOptions())
    r.receive_data(data)
    r.receive_data(b"")
    n = 0
    while r.next_event() is not NEED_DATA:
        n += 1
    return n


def full_translation(data: bytes, options: TranslatorOptions | None = None) -> int:
    result = translate_edifact(data, options or TranslatorOptions())
    size = sum([len(dumps(d.document)) for d in result.documents])
    assert not result.errors, result.errors[:3]
    return size


def syntax_translation(data: bytes) -> int:
    """Full translation with maps off: documents are the lossless syntax layer."""
    return full_translation(data, TranslatorOptions(map_business=False))


def timed(fn: Callable[[], object]) -> float:
    # CPU time of this process: the comparison stays fair on a shared, loaded machine.
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def _peak_rss_mb() -> float:
    # VmHWM belongs to this process image only; ru_maxrss would include the
    # parent's peak inherited through fork (Linux keeps it across execve).
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_child(path: str) -> None:
    options = TranslatorOptions(max_interchange_bytes=1 << 40)

    def chunks() -> Iterator[bytes]:
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                yield block

    docs = errors = 0
    t0 = time.perf_counter()
    for item in iter_translate_edifact(chunks(), options, hold_documents=False):
        if type(item).__name__ == "TranslatedDocument":
            docs += 1
        elif type(item).__name__ == "RemoteSyntaxError":
            errors += 1
    elapsed = time.perf_counter() - t0
    print(
        json.dumps({"documents": docs, "errors": errors, "seconds": elapsed, "peak_rss_mb": _peak_rss_mb()})
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=1024, help="0 skips the RSS run")
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return

    data = generate(args.messages)
    text = data.decode("latin-1")
    mb = len(data) / 1e6
    segs = data.count(b"'\n")
    print(f"file: {args.messages} ORDERS, {segs} segments ({segs / args.messages:.1f}/message), {mb:.2f} MB")
    full_translation(generate(5))  # warm up: imports the maps outside the timing
    sample = [d.document for d in translate_edifact(generate(20), TranslatorOptions()).documents]
    assert all(json.loads(dumps(doc)) == doc for doc in sample)
    times: dict[str, list[float]] = {"pydifact": [], "floor": [], "reader": [], "syntax": [], "full": []}
    for _ in range(args.rounds):
        times["floor"].append(timed(lambda: plain_split(data)))
        times["reader"].append(timed(lambda: reader_only(data)))
        times["syntax"].append(timed(lambda: syntax_translation(data)))
        times["full"].append(timed(lambda: full_translation(data)))
        times["pydifact"].append(timed(lambda: pydifact_parse(text)))
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, label in [
        ("pydifact", "pydifact from_str+get_messages"),
        ("floor", "plain split floor"),
        ("reader", "our reader (events only)"),
        ("syntax", "our translation, maps off, +json"),
        ("full", "our full translation+json"),
    ]:
        print(
            f"  {label:34s} {med[name]:8.3f} s  {mb / med[name]:8.2f} MB/s  "
            f"{args.messages / med[name]:10.0f} msg/s"
        )
    print(f"ratio pydifact / our full translation: {med['pydifact'] / med['full']:.1f}x (goal >= 30x)")
    print(f"ratio pydifact / our translation with maps off: {med['pydifact'] / med['syntax']:.1f}x")
    print(f"ratio pydifact / our reader: {med['pydifact'] / med['reader']:.1f}x")
    print(f"our reader vs floor: {100 * med['floor'] / med['reader']:.0f} % of floor MB/s")
    print(
        f"our full translation vs floor: {100 * med['floor'] / med['full']:.0f} % of floor MB/s (goal >= 40 %)"
    )

    if args.big_mb:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "big.edi"
            count = generate_file(path, args.big_mb)
            size = path.stat().st_size
            print(
                f"big file: {size / 1e6:.0f} MB, {count} messages in one interchange (UNG groups of 100,000)"
            )
            out = subprocess.run(
                [sys.executable, __file__, "--rss-child", str(path)],
                check=True,
                capture_output=True,
                text=True,
            )
            res = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"  streaming iter_translate_edifact: {res['seconds']:.1f} s, {size / 1e6 / res['seconds']:.1f} MB/s,"
                f" {res['documents']} documents, {res['errors']} errors, peak RSS {res['peak_rss_mb']:.0f} MB "
                "(goal <= 100 MB)"
            )
        print(f"  temp file removed: {not path.exists()}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
