"""X12 benchmark: our streaming reader and full translation against pyx12 and a str.split floor.

Measured in one run, on one generated file of 850 purchase orders (about 27 segments each):

1. pyx12 ``X12Reader`` tokenizing the file (no map) vs our full ``translate_x12`` (parse, envelope
   checks, maps' validate/to_canonical when present) plus the canonical JSON of each document and
   of its extensions, written by the gateway's ``encode_document`` (orjson, sorted keys) as each
   document is made (``TranslatorOptions.encoder``) -> ratio (goal: ours at least 10x faster);
2. MB/s of our ``X12Reader`` (events only) vs a plain ``str.split`` tokenizer on the same text
   (goal: at least 40 % of the floor);
3. peak RSS of ``iter_translate_x12`` over a generated ~1 GB mailbag, measured in a subprocess with
   ``resource.getrusage`` (goal: at most 100 MB); the file lives in a temp dir and is deleted;
4. figure 1 again on a file where no segment repeats (:func:`unique_purchase_order`): the bench
   file repeats 20 of each set's 27 segments verbatim, which flatters the translator's caches of
   repeated segments; real files repeat their parties and terms, rarely their lines and dates.

Times are CPU seconds of this process (``time.process_time``): the work is single-threaded, so the
figure depends less on what else the host runs than wall time does (a loaded host still inflates
it by 10-20 %: caches and memory bandwidth are shared).  Every method runs once per round, in turn
with the others, and each figure is the median of ``--rounds`` rounds.

Figure 1 is taken twice: the library call under Python's default collector setting, and the file
through the translation workers' own entry point as they run it (``bench/worker_gc.py``:
``gateway.batcher.translate_one``, imports frozen out of the collector, the collector paused while
the file is translated and encoded).  The goal is judged on the second, which is how the gateway
translates; both are printed.

Figures 1 and 2 are printed twice, side by side: for the pure-Python sources (measured in a
subprocess whose import hook, ``tests/translators/pure_import.py``, loads ``translators.*`` from
the ``.py`` files) and for the mypyc build this interpreter imports. The goal is judged on the
compiled figure: that is what ``pip install`` and the ``.deb`` give users.

Usage::

    .venv/bin/python bench/bench_x12.py                 # 10,000 850s, 1 GB RSS run
    .venv/bin/python bench/bench_x12.py --large         # 100,000 850s
    .venv/bin/python bench/bench_x12.py --rss-gb 0.2    # smaller RSS run
    .venv/bin/python bench/bench_x12.py --skip-pure     # compiled figures only
    .venv/bin/python bench/bench_x12.py --rounds 5      # medians of 5 rounds (default 3)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

if __name__ == "__main__" and "--pure-child" in sys.argv:
    # The pure-Python figures: translators.* from the .py sources even where the mypyc build put a
    # .so beside them. The hook must be in place before anything imports translators.
    from tests.translators.pure_import import install

    install()

# E402: these must follow the hook above.
import orjson  # noqa: E402

import translators.x12 as x12  # noqa: E402
from tests.translators.pure_import import is_compiled  # noqa: E402
from translators.options import TranslatorOptions  # noqa: E402
from translators.x12 import X12Reader, translate_x12  # noqa: E402
from translators.x12.syntax import NEED_DATA  # noqa: E402

ISA = (
    "ISA*00*          *00*          *ZZ*BUYER          *ZZ*SUPPLIER       "
    "*240101*1200*U*00401*{:09d}*0*P*>~\n"
)


def purchase_order(n: int) -> str:
    """One 850 of 27 segments (ST..SE), control number n."""
    c = f"{n:04d}" if n < 10_000 else str(n)
    lines = [
        f"ST*850*{c}",
        f"BEG*00*SA*PO{n:08d}**20240101",
        "CUR*BY*USD",
        f"REF*DP*{n % 997:03d}",
        "REF*IA*SUPPLIER01",
        "PER*BD*JANE BUYER*TE*5555551234",
        "FOB*PP",
        "ITD*01*3*2**30**60",
        "DTM*002*20240115",
        "DTM*010*20240110",
        "TD5****M",
        "N1*ST*DISTRIBUTION CENTER 7*92*0007",
        "N3*100 WAREHOUSE ROAD",
        "N4*SPRINGFIELD*IL*62701*US",
        "N1*BT*BUYER INC*92*HQ",
        "N3*1 MAIN STREET",
        "N4*CHICAGO*IL*60601*US",
        f"PO1*1*{n % 50 + 1}*EA*12.50**UP*012345678905*VN*ITEM-A",
        "PID*F****WIDGET, LARGE",
        "PO4*12*1*EA",
        f"PO1*2*{n % 7 + 1}*CA*99.00**UP*012345678912*VN*ITEM-B",
        "PID*F****GADGET CASE",
        "PO4*6*1*EA",
        f"PO1*3*{n % 3 + 1}*EA*5.25**UP*012345678929*VN*ITEM-C",
        "PID*F****SPARE PART",
        "CTT*3",
    ]
    lines.append(f"SE*{len(lines) + 1}*{c}")
    return "~\n".join(lines) + "~\n"


def unique_purchase_order(n: int) -> str:
    """An 850 like :func:`purchase_order` in which no segment repeats anywhere in the file.

    The bench file repeats 20 of every set's 27 segments verbatim, which flatters any cache
    keyed on segment text; here only ``CTT*3`` cannot vary.  Dates walk the calendar, numbers,
    names and addresses carry ``n``, the currency is three letters derived from ``n``.
    """
    c = f"{n:04d}" if n < 10_000 else str(n)
    year, month, day = 1950 + n // 336, (n // 28) % 12 + 1, n % 28 + 1
    date = f"{year:04d}{month:02d}{day:02d}"
    cur = "".join(chr(65 + (n // 26**k) % 26) for k in range(3))
    lines = [
        f"ST*850*{c}",
        f"BEG*00*SA*PO{n:08d}**{date}",
        f"CUR*BY*{cur}",
        f"REF*DP*D{n}",
        f"REF*IA*SUPPLIER{n}",
        f"PER*BD*BUYER {n}*TE*{5550000000 + n}",
        f"FOB*PP*ZZ*DOCK {n}",
        f"ITD*01*3*{n % 5 + 1}*{date}*{n % 40 + 10}*{date}*{n % 50 + 30}",
        f"DTM*002*{date}",
        f"DTM*010*{year:04d}{month:02d}{(n + 7) % 28 + 1:02d}",
        f"TD5****M*CARRIER {n}",
        f"N1*ST*DISTRIBUTION CENTER {n}*92*S{n}",
        f"N3*{n} WAREHOUSE ROAD",
        f"N4*SPRINGFIELD {n}*IL*{n % 90000 + 10000:05d}*US",
        f"N1*BT*BUYER {n} INC*92*B{n}",
        f"N3*{n} MAIN STREET",
        f"N4*CHICAGO {n}*IL*{(n + 3) % 90000 + 10000:05d}*US",
    ]
    for line in (1, 2, 3):
        lines += [
            f"PO1*{line}*{n * 3 + line}*EA*{n % 1000}.{line}5**UP*{n:011d}{line}*VN*ITEM-{n}-{line}",
            f"PID*F****ITEM {n} DESCRIPTION {line}",
            f"PO4*{n % 24 + line}*{n}.{line}*EA",
        ]
    lines.append("CTT*3")
    lines.append(f"SE*{len(lines) + 1}*{c}")
    return "~\n".join(lines) + "~\n"


def interchange(count: int, control: int, start: int = 1, *, unique: bool = False) -> str:
    """An interchange holding one group of ``count`` 850s (``unique``: no segment repeats)."""
    make = unique_purchase_order if unique else purchase_order
    body = "".join(make(n) for n in range(start, start + count))
    return (
        ISA.format(control)
        + f"GS*PO*BUYER*SUPPLIER*20240101*1200*{control}*X*004010~\n"
        + body
        + f"GE*{count}*{control}~\nIEA*1*{control:09d}~\n"
    )


def bench_pyx12(data: bytes) -> tuple[float, int]:
    """Seconds for pyx12's X12Reader to tokenize the file, and its segment count."""
    import pyx12.x12file

    start = time.process_time()
    n = 0
    with pyx12.x12file.X12Reader(io.StringIO(data.decode("ascii"))) as reader:
        for _seg in reader:
            n += 1
    return time.process_time() - start, n


def translate_and_encode(data: bytes, *, core_only: bool = False) -> Any:
    """translate_x12, each document written as canonical JSON as it is made: what the goal times.

    The JSON is the translation's ``encoded`` pairs, written by the gateway's encoder
    (``TranslatorOptions.encoder``, as the gateway's workers translate). ``core_only`` hides the maps package (syntax-layer documents, no
    element validation) to show what the reader, envelope checks and acks cost on their own.
    """
    # Imported here, not at the top: it imports the gateway package, and the RSS child must be
    # forked from a small parent (its getrusage figure starts from the parent's peak).
    from gateway.envelopes import encode_document

    saved = x12._MAPS
    if core_only:
        x12._MAPS = x12._Maps(None, None, None)
    try:
        return translate_x12(data, TranslatorOptions(map_business=not core_only, encoder=encode_document))
    finally:
        x12._MAPS = saved


def check_translation(data: bytes) -> tuple[int, int]:
    """Outside every timing: the input translates cleanly and the JSON is the documents' own.

    The encoded documents must be orjson's JSON of the same translation's documents made without
    an encoder, and read back as what the stdlib writes. Returns the number of documents and of
    JSON bytes.
    """
    result = translate_and_encode(data)
    if result.errors:
        raise SystemExit(f"benchmark input did not translate cleanly: {result.reason}")
    plain = translate_x12(data, TranslatorOptions())
    encoded = [d.encoded[0] for d in result.documents]
    assert len(encoded) == len(plain.documents)
    for d, text in zip(plain.documents[:100], encoded, strict=False):
        assert text == orjson.dumps(d.document, option=orjson.OPT_SORT_KEYS, default=str)
        assert json.loads(text) == json.loads(
            json.dumps(d.document, sort_keys=True, separators=(",", ":"), default=str)
        )
    return len(encoded), sum(map(len, encoded))


def bench_translate(data: bytes, *, core_only: bool = False) -> float:
    """CPU seconds of :func:`translate_and_encode` under Python's default collector setting."""
    start = time.process_time()
    result = translate_and_encode(data, core_only=core_only)
    elapsed = time.process_time() - start
    del result
    return elapsed


def bench_reader(data: bytes) -> tuple[float, int]:
    """Seconds for X12Reader to produce every event (fed in 1 MiB chunks)."""
    start = time.process_time()
    reader = X12Reader()
    segments = 0
    for pos in range(0, len(data), 1 << 20):
        reader.receive_data(data[pos : pos + (1 << 20)])
        while (event := reader.next_event()) is not NEED_DATA:
            segments += len(getattr(event, "segments", ())) or 1
    reader.receive_data(b"")
    while (event := reader.next_event()) is not NEED_DATA:
        segments += 1
    return time.process_time() - start, segments


def bench_floor(data: bytes) -> tuple[float, int]:
    """Seconds for the plainest tokenizer: decode, split segments, split elements."""
    start = time.process_time()
    n = 0
    for pos in range(0, len(data), 1 << 20):
        text = data[pos : pos + (1 << 20)].decode("latin-1")
        segs = [s.split("*") for s in text.split("~\n")]
        n += len(segs)
    return time.process_time() - start, n


_RSS_CHILD = """
import resource, sys, time
sys.path.insert(0, sys.argv[2])
import translators.x12 as x12
from translators.options import TranslatorOptions
from translators.x12 import iter_translate_x12
from translators.result import TranslatedDocument
import orjson

def chunks(path):
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            yield block

start = time.process_time()
docs = errors = size = 0
for item in iter_translate_x12(chunks(sys.argv[1]), TranslatorOptions()):
    if isinstance(item, TranslatedDocument):
        docs += 1
        size += len(orjson.dumps(item.document, option=orjson.OPT_SORT_KEYS, default=str))
    elif isinstance(item, Exception):
        errors += 1
elapsed = time.process_time() - start
hwm = 0
with open("/proc/self/status") as status:
    for line in status:
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
print(docs, errors, elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, hwm)
"""


def bench_rss(gigabytes: float) -> None:
    """Generate a ~gigabytes mailbag, stream-translate it in a subprocess, report peak RSS."""
    per_interchange = 20_000  # ~15 MB each, far under max_interchange_bytes
    with tempfile.TemporaryDirectory(prefix="bench_x12_") as tmp:
        path = Path(tmp) / "mailbag.x12"
        target = int(gigabytes * 1024**3)
        written = 0
        control = 1
        with path.open("wb") as f:
            while written < target:
                block = interchange(per_interchange, control).encode()
                f.write(block)
                written += len(block)
                control += 1
        size = path.stat().st_size
        out = subprocess.run(
            [sys.executable, "-c", _RSS_CHILD, str(path), str(Path(__file__).resolve().parents[1])],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        docs, errors, elapsed, rss_kb, hwm_kb = (
            int(out[0]),
            int(out[1]),
            float(out[2]),
            int(out[3]),
            int(out[4]),
        )
        os.remove(path)
    print(
        f"streaming iterator over {size / 1e6:,.0f} MB ({control - 1} interchanges): {docs:,} documents, "
        f"{errors} errors, {elapsed:.1f} s CPU ({size / 1e6 / elapsed:.1f} MB/s), "
        f"peak RSS {rss_kb / 1024:.1f} MB by getrusage, {hwm_kb / 1024:.1f} MB by VmHWM (goal <= 100 MB)"
    )


def bench_translate_worker_gc(data: bytes) -> float:
    """CPU seconds of the file through the translation workers' own entry point, as they run it."""
    # Imported here, not at the top: it imports the gateway package, and the RSS child must be
    # forked from a small parent (its getrusage figure starts from the parent's peak).
    import worker_gc

    return worker_gc.translate_as_worker(data)


def pure_figures(count: int) -> dict[str, float]:
    """translate, core-only and reader seconds of the pure-Python code, measured in a subprocess."""
    out = subprocess.run(
        [sys.executable, __file__, "--pure-child", "--count", str(count)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    figures: dict[str, float] = json.loads(out.splitlines()[-1])
    return figures


def pure_child(count: int) -> None:
    """The --pure-child run: the three timings as one JSON line for the parent."""
    import translators.x12.reader

    assert not is_compiled(translators.x12.reader), "the pure import hook did not take"
    data = interchange(count, 1).encode()
    full = bench_translate(data)
    core = bench_translate(data, core_only=True)
    reader_s, _ = bench_reader(data)
    print(json.dumps({"translate": full, "core": core, "reader": reader_s}))


def _row(label: str, seconds: float, count: int, ref: float | None) -> str:
    ratio = f"{ref / seconds:5.1f}x pyx12" if ref else ""
    return f"  {label:<13}{seconds:6.2f} s {count / seconds:9,.0f} tx/s  {ratio}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--large", action="store_true", help="100,000 transaction sets instead of 10,000")
    parser.add_argument("--count", type=int, default=None, help="transaction sets in the parse file")
    parser.add_argument("--rss-gb", type=float, default=1.0, help="size of the RSS file in GB (0 = skip)")
    parser.add_argument("--skip-pyx12", action="store_true", help="do not run the pyx12 reference")
    parser.add_argument("--skip-pure", action="store_true", help="do not measure the pure-Python code")
    parser.add_argument("--skip-unique", action="store_true", help="do not measure the unique-segment file")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every timing (medians are printed)")
    parser.add_argument("--pure-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    count = args.count or (100_000 if args.large else 10_000)
    if args.pure_child:
        pure_child(count)
        return
    if args.rss_gb > 0:
        # First, while this process is small: Linux carries the parent's peak RSS at fork into the
        # child's getrusage() figure (VmHWM is not affected), so the child is started before the
        # benchmark data exists.
        bench_rss(args.rss_gb)
    compiled = is_compiled(x12) and is_compiled(x12.reader)
    # Before this process builds the data: the child generates its own copy of the same input.
    pure = pure_figures(count) if compiled and not args.skip_pure else None
    data = interchange(count, 1).encode()
    mb = len(data) / 1e6
    print(f"input: {count:,} x 850, {mb:.1f} MB, {data.count(b'~'):,} segments")
    try:
        import translators.x12.maps as maps

        mapped = "850" in getattr(maps, "MAPPED_SETS", {})
        has_validate = hasattr(maps, "validate")
    except ImportError:
        mapped, has_validate = False, False
    print(f"maps present: to_canonical for 850 = {mapped}, validate = {has_validate}")
    print(
        "this interpreter runs the "
        + ("mypyc-compiled translators" if compiled else "PURE-PYTHON translators (no mypyc build installed)")
    )

    docs, json_bytes = check_translation(data)
    unique = b"" if args.skip_unique else interchange(count, 1, unique=True).encode()
    if unique:
        check_translation(unique)
    # Each method once per round, the reference between ours; each figure is the median of its
    # rounds (this VM's timings drift by 30-50 % over minutes, in both directions).
    runs: dict[str, list[float]] = {}

    def record(key: str, seconds: float) -> None:
        runs.setdefault(key, []).append(seconds)

    for _ in range(args.rounds):
        record("ours", bench_translate(data))
        record("ours_gc", bench_translate_worker_gc(data))
        record("core", bench_translate(data, core_only=True))
        record("reader", bench_reader(data)[0])
        record("floor", bench_floor(data)[0])
        if not args.skip_pyx12:
            ref_s, nseg = bench_pyx12(data)
            record("ref", ref_s)
        if unique:
            record("u_ours", bench_translate(unique))
            record("u_ours_gc", bench_translate_worker_gc(unique))
            if not args.skip_pyx12:
                record("u_ref", bench_pyx12(unique)[0])
    med = {key: statistics.median(values) for key, values in runs.items()}
    ours, ours_gc, core, reader_s, floor_s = (med[k] for k in ("ours", "ours_gc", "core", "reader", "floor"))
    ref = med.get("ref")
    print(f"medians of {args.rounds} rounds; each method once per round, in turn; CPU seconds")
    if ref is not None:
        print(
            f"pyx12 X12Reader (tokenize only): {ref:.2f} s, {count / ref:,.0f} tx/s ({nseg:,} segments); "
            f"rounds: {_runs(runs['ref'])}"
        )
    print(f"({docs:,} documents, {json_bytes / 1e6:.1f} MB of JSON)")
    kinds = [("compiled" if compiled else "pure Python", ours, core, reader_s)]
    if pure is not None:
        kinds.insert(0, ("pure Python", pure["translate"], pure["core"], pure["reader"]))
    for kind, full_s, core_s, read_s in kinds:
        print(f"{kind}:")
        print(
            _row("translate", full_s, count, ref)
            + "  (translate_x12 + JSON per document, Python's default GC)"
        )
        print(_row("core only", core_s, count, ref) + "  (no maps package)")
        print(
            f"  X12Reader    {read_s:6.2f} s, {mb / read_s:.1f} MB/s = {floor_s / read_s * 100:.0f} % of the floor"
        )
        if kind != "pure Python" or not compiled:
            import worker_gc

            print(_row("translate", ours_gc, count, ref) + f"  (as workers run it: {worker_gc.DESCRIPTION})")
            print(f"  rounds: default GC {_runs(runs['ours'])}; as workers run it {_runs(runs['ours_gc'])}")
    print(f"floor str.split tokenizer: {floor_s:.2f} s, {mb / floor_s:.1f} MB/s (reader goal >= 40 %)")
    if unique:
        # The same measure where no segment repeats: what a cache of repeated segments cannot help.
        line = (
            f"unique-segment file ({len(unique) / 1e6:.1f} MB): translate {med['u_ours']:.2f} s default GC, "
            f"{med['u_ours_gc']:.2f} s as workers run it"
        )
        if "u_ref" in med:
            u_ref = med["u_ref"]
            line += f"; pyx12 {u_ref:.2f} s -> {u_ref / med['u_ours']:.1f}x / {u_ref / med['u_ours_gc']:.1f}x"
        print(line)
    if ref is not None:
        judged = "compiled" if compiled else "pure Python: NOT the goal's figure, install the mypyc build"
        print(
            f"GOAL (X12 full translation >= 10x pyx12) is judged on the compiled figure, what users "
            f"install, as the gateway's workers run it: {ref / ours_gc:.1f}x as workers run it "
            f"({ref / ours:.1f}x with Python's default GC) ({judged})"
        )


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
