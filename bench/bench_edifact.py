"""EDIFACT throughput and memory, measured against references in the same run.

Usage::

    .venv/bin/python bench/bench_edifact.py [--messages 10000] [--rounds 3] [--big-mb 1024]
    .venv/bin/python bench/bench_edifact.py --skip-pure          # compiled figures only

Prints, for one generated interchange of ORDERS (47 segments each):

1. pydifact ``Interchange.from_str`` + ``get_messages`` vs our full
   translation (reader + envelope checks + validation + map + CONTRL + JSON
   of each document and its extensions, written by the gateway's
   ``encode_document`` (orjson, sorted keys) as each document is made): the
   ratio (goal >= 30x);
2. our MB/s (reader alone, and full translation) vs a plain split tokenizer
   (decode, split segments, elements and components: no release character,
   no checks), as a percentage of that floor (reader goal >= 40 %);
3. the same for a *unique-segment* file (every segment but ``UNS+S`` and
   ``CNT+2:6`` differs): the reader memoises split segments, which pays off
   when segments repeat (dates, parties, currency, as in the bench file and
   in real interchanges) and not at all here, so this is the figure without it;
4. peak RSS of ``iter_translate_edifact`` over a generated file of
   ``--big-mb`` MB (one interchange, documents released as read), in a
   subprocess (goal <= 100 MB).  The file is written to a temporary
   directory and deleted afterwards.

Figures 1-3 are printed side by side for the pure-Python sources (measured
in a subprocess whose import hook, ``tests/translators/pure_import.py``,
loads ``translators.*`` from the ``.py`` files) and for the mypyc build
this interpreter imports.  The goals are judged on the compiled figures on
the bench file: that is what ``pip install`` and the ``.deb`` give users;
the translation goal on the row that runs it as the gateway's workers do.

Times are CPU seconds of the measuring process (``time.process_time``, so
other load on the machine skews the ratios less), medians over ``--rounds``
rounds, methods alternating within a round.  Our code is measured in fresh
subprocesses (pure, then compiled), the references in this process; the
compiled rounds and the references' rounds alternate (a subprocess per
round), because this VM's speed changes by up to 2x in phases of seconds,
and the goal's ratio is also printed round by round.  The RSS child reports
wall time.

Every figure is taken with Python's default garbage-collector setting;
the full translation is also measured through the translation workers' own
entry point as they run a file (``bench/worker_gc.py``:
``gateway.batcher.translate_one``, imports frozen out of the collector, the
collector paused while the file is translated and encoded), on a row that
says so.
"""

from __future__ import annotations

import argparse
import gc
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

if __name__ == "__main__" and "--pure-child" in sys.argv:
    # The pure-Python figures: translators.* from the .py sources even where the mypyc build put a
    # .so beside them. The hook must be in place before anything imports translators.
    from tests.translators.pure_import import install

    install()

# E402: these must follow the hook above.
import worker_gc  # noqa: E402

import translators.edifact.maps as edifact_maps  # noqa: E402
import translators.edifact.reader as edifact_reader  # noqa: E402
from gateway.envelopes import encode_document  # noqa: E402
from tests.translators.pure_import import is_compiled  # noqa: E402
from translators.edifact import EdifactReader, iter_translate_edifact, translate_edifact  # noqa: E402
from translators.edifact.syntax import NEED_DATA  # noqa: E402
from translators.options import TranslatorOptions  # noqa: E402


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


def _unique_message(n: int) -> list[str]:
    """An ORDERS like :func:`_message` where no segment repeats anywhere in the file.

    Only ``UNS+S`` and ``CNT+2:6`` stay the same (they cannot vary).  Dates
    walk the calendar (28 days x 12 months x years), numbers and texts carry
    ``n``, the currency is three letters derived from ``n``.
    """
    ref = f"M{n:07d}"
    year, month, day = 1950 + n // 336, (n // 28) % 12 + 1, n % 28 + 1
    date = f"{year:04d}{month:02d}{day:02d}"
    cur = "".join(chr(65 + (n // 26**k) % 26) for k in range(3))
    segs = [
        f"UNH+{ref}+ORDERS:D:96A:UN:EAN008",
        f"BGM+220+PO{n:08d}+9",
        f"DTM+137:{date}:102",
        f"DTM+2:{date}:102",
        f"DTM+64:{date}0800:203",
        f"FTX+DEL+++DOCK {n}?+6?: CALL AHEAD?'S OK",
        f"RFF+CT:CONTRACT{n}",
        f"NAD+BY+1{n:012d}::9",
        f"CTA+PD+:JOHN SMITH {n}",
        f"COM+00{n:011d}:TE",
        f"NAD+SU+2{n:012d}::9",
        f"NAD+DP+3{n:012d}::9",
        f"NAD+IV+4{n:012d}::9",
        f"CUX+2:{cur}:9",
    ]
    for line in range(1, 7):
        segs += [
            f"LIN+{line}++{5400000000000 + n * 10 + line}:EN",
            f"PIA+1+SKU{n}-{line}:SA",
            f"IMD+F++:::ITEM {n} DESCRIPTION {line}",
            f"QTY+21:{n * 10 + line}:PCE",
            f"PRI+AAA:{n}.{line}5",
        ]
    segs += ["UNS+S", "CNT+2:6"]
    segs.append(f"UNT+{len(segs) + 1}+{ref}")
    return segs


def generate(messages: int, control: str = "1", *, unique: bool = False) -> bytes:
    """One interchange with ``messages`` ORDERS, one segment per line."""
    out = ["UNA:+.? '", f"UNB+UNOC:3+5412345000013:14+4012345500004:14+240115:1200+{control}"]
    make = _unique_message if unique else _message
    for n in range(messages):
        out.extend(make(n))
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


def full_translation(data: bytes, *, map_business: bool = True) -> int:
    """translate_edifact, each document and its extensions written as JSON as it is made.

    By the gateway's encoder, through ``TranslatorOptions.encoder`` as the gateway's workers
    translate. Returns the JSON bytes of the documents.
    """
    result = translate_edifact(data, TranslatorOptions(map_business=map_business, encoder=encode_document))
    assert not result.errors, result.errors[:3]
    return sum([len(d.encoded[0]) for d in result.documents if d.encoded is not None])


def syntax_translation(data: bytes) -> int:
    """Full translation with maps off: documents are the lossless syntax layer."""
    return full_translation(data, map_business=False)


def timed(fn: Callable[[], object]) -> float:
    # CPU time of this process: the comparison stays fair on a shared, loaded machine.
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def measure_ours(messages: int, rounds: int) -> dict[str, float]:
    """Median CPU seconds of our reader and translations, on the bench file and the unique one."""
    data = generate(messages)
    unique = generate(messages, unique=True)
    full_translation(generate(5))  # warm up: imports the maps outside the timing
    sample = generate(20)
    plain = [d.document for d in translate_edifact(sample, TranslatorOptions()).documents]
    encoded = translate_edifact(sample, TranslatorOptions(encoder=encode_document)).documents
    assert [json.loads(d.encoded[0]) for d in encoded if d.encoded is not None] == plain
    assert all(json.loads(encode_document(doc)) == doc for doc in plain)
    times: dict[str, list[float]] = {
        k: []
        for k in ("reader", "syntax", "full", "full_gc", "reader_unique", "full_unique", "full_unique_gc")
    }
    for _ in range(rounds):
        times["reader"].append(timed(lambda: reader_only(data)))
        times["syntax"].append(timed(lambda: syntax_translation(data)))
        times["full"].append(timed(lambda: full_translation(data)))
        times["full_gc"].append(worker_gc.translate_as_worker(data))
        times["reader_unique"].append(timed(lambda: reader_only(unique)))
        times["full_unique"].append(timed(lambda: full_translation(unique)))
        times["full_unique_gc"].append(worker_gc.translate_as_worker(unique))
    return {k: statistics.median(v) for k, v in times.items()}


def measure_references(messages: int, rounds: int) -> dict[str, float]:
    """Median CPU seconds of pydifact and of the split floor (both files)."""
    data = generate(messages)
    unique = generate(messages, unique=True)
    text = data.decode("latin-1")
    unique_text = unique.decode("latin-1")
    times: dict[str, list[float]] = {"pydifact": [], "pydifact_unique": [], "floor": [], "floor_unique": []}
    for _ in range(rounds):
        times["floor"].append(timed(lambda: plain_split(data)))
        times["floor_unique"].append(timed(lambda: plain_split(unique)))
        times["pydifact"].append(timed(lambda: pydifact_parse(text)))
        times["pydifact_unique"].append(timed(lambda: pydifact_parse(unique_text)))
    return {k: statistics.median(v) for k, v in times.items()}


def child_figures(messages: int, rounds: int, *, pure: bool) -> dict[str, float]:
    """:func:`measure_ours` in a fresh subprocess: with the import hook (pure) or without (compiled).

    Both kinds run in a process of their own, so neither inherits the heap
    pydifact leaves behind (a larger heap makes every full GC pass dearer).
    """
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--pure-child" if pure else "--ours-child",
            "--messages",
            str(messages),
            "--rounds",
            str(rounds),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    figures: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return figures


def ours_child(messages: int, rounds: int, *, pure: bool) -> None:
    """The --pure-child / --ours-child run: our timings as one JSON line for the parent."""
    if pure:
        assert not is_compiled(edifact_reader), "the pure import hook did not take"
    print(json.dumps(measure_ours(messages, rounds)))


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


def _report(kind: str, ours: dict[str, float], ref: dict[str, float], mb: float, messages: int) -> None:
    print(f"{kind}:")
    for key, label in [
        ("reader", "reader (events only)"),
        ("syntax", "translation, maps off, +json"),
        ("full", "full translation+json"),
        ("full_gc", "full, as workers run it"),
    ]:
        t = ours[key]
        line = f"  {label:31s} {t:7.3f} s {mb / t:7.2f} MB/s {messages / t:8.0f} msg/s"
        line += f"  {ref['pydifact'] / t:5.1f}x pydifact  {100 * ref['floor'] / t:4.0f} % of floor"
        print(line)
    for key, label in [
        ("reader_unique", "reader, unique segments"),
        ("full_unique", "full, unique segments"),
        ("full_unique_gc", "full, unique, as workers"),
    ]:
        t = ours[key]
        print(
            f"  {label:31s} {t:7.3f} s {mb / t:7.2f} MB/s {messages / t:8.0f} msg/s"
            f"  {ref['pydifact_unique'] / t:5.1f}x pydifact  {100 * ref['floor_unique'] / t:4.0f} % of floor"
            " (unique file)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=1024, help="0 skips the RSS run")
    parser.add_argument("--skip-pure", action="store_true", help="do not measure the pure-Python code")
    parser.add_argument("--pure-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ours-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return
    if args.pure_child or args.ours_child:
        ours_child(args.messages, args.rounds, pure=args.pure_child)
        return

    compiled = is_compiled(edifact_reader) and is_compiled(edifact_maps)
    # Before this process builds the data: each child generates its own copy of the same input.
    pure = child_figures(args.messages, args.rounds, pure=True) if compiled and not args.skip_pure else None
    # Ours and the references alternate, one round of each in turn: this VM's speed changes by up
    # to 2x in phases of seconds, and all of ours, then all of the references, once measured the
    # two in different phases (27x in one run, 74x in another, same code).
    ours_rounds: list[dict[str, float]] = []
    ref_rounds: list[dict[str, float]] = []
    for _ in range(args.rounds):
        ours_rounds.append(child_figures(args.messages, 1, pure=False))
        ref_rounds.append(measure_references(args.messages, 1))
    ours = {k: statistics.median(r[k] for r in ours_rounds) for k in ours_rounds[0]}
    ref = {k: statistics.median(r[k] for r in ref_rounds) for k in ref_rounds[0]}
    # The goal's ratio per round, each from the two figures measured next to each other.
    paired = [r["pydifact"] / o["full_gc"] for o, r in zip(ours_rounds, ref_rounds, strict=True)]
    data = generate(args.messages)
    mb = len(data) / 1e6
    segs = data.count(b"'\n")
    print(f"file: {args.messages} ORDERS, {segs} segments ({segs / args.messages:.1f}/message), {mb:.2f} MB")
    print(
        f"GC: Python's defaults {gc.get_threshold()}, except on the rows run as workers run a file: "
        f"{worker_gc.DESCRIPTION}"
    )
    print(
        "this interpreter runs the "
        + ("mypyc-compiled translators" if compiled else "PURE-PYTHON translators (no mypyc build installed)")
    )
    print(f"  pydifact from_str+get_messages  {ref['pydifact']:7.3f} s {mb / ref['pydifact']:7.2f} MB/s")
    print(f"  plain split floor               {ref['floor']:7.3f} s {mb / ref['floor']:7.2f} MB/s")
    print(f"  plain split floor, unique file  {ref['floor_unique']:7.3f} s")
    print(f"  pydifact, unique file           {ref['pydifact_unique']:7.3f} s")
    if pure is not None:
        _report("pure Python", pure, ref, mb, args.messages)
    _report("compiled (mypyc)" if compiled else "pure Python", ours, ref, mb, args.messages)
    judged = "compiled" if compiled else "pure Python: NOT the goals' figures, install the mypyc build"
    print(
        f"GOAL full translation >= 30x pydifact, judged on the compiled full translation of the bench file "
        f"as the gateway's workers run it: {ref['pydifact'] / ours['full_gc']:.1f}x as workers run it "
        f"({ref['pydifact'] / ours['full']:.1f}x with Python's default GC) ({judged}); "
        f"round by round: {', '.join(f'{x:.1f}x' for x in paired)}"
    )
    print(
        f"GOAL reader >= 40 % of the split floor, judged on the compiled reader on the bench file: "
        f"{100 * ref['floor'] / ours['reader']:.0f} % ({judged}); unique segments, no memo hits: "
        f"{100 * ref['floor_unique'] / ours['reader_unique']:.0f} %"
    )
    print(f"full translation vs floor: {100 * ref['floor'] / ours['full']:.0f} % of floor MB/s")

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
