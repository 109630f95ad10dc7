"""X12Reader: tables of (bytes, expected events), each parsed whole, byte by byte, in chunks and with
trailing bytes (h11 ``tr()`` style)."""

from __future__ import annotations

import dataclasses
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from x12_helpers import drain, feed, summarise, three_ways

from translators.errors import RemoteSyntaxError
from translators.options import TranslatorOptions
from translators.x12.reader import TransactionSetError, X12Reader, read_events
from translators.x12.syntax import (
    NEED_DATA,
    Delimiters,
    InterchangeStart,
    TransactionSet,
    components,
    repetitions,
)

ISA_401 = (
    b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       "
    b"*240101*1200*U*00401*000000001*0*P*>"
)
ISA_501 = (
    b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       "
    b"*240101*1200*^*00501*000000002*0*P*:"
)
BODY = b"GS*PO*S*R*20240101*1200*1*X*004010~ST*850*0001~BEG*00*SA*1**20240101~SE*3*0001~GE*1*1~"

ISA_SEG_401 = tuple(ISA_401.decode().split("*"))
TX_SEGS = (("ST", "850", "0001"), ("BEG", "00", "SA", "1", "", "20240101"), ("SE", "3", "0001"))


def isa_event(
    control: str,
    element: str = "*",
    segment: str = "~",
    suffix: str = "",
    component: str = ">",
    repetition: str | None = None,
) -> tuple[object, ...]:
    return ("ISA", control, element, segment, suffix, component, repetition)


SIMPLE = [
    isa_event("000000001"),
    ("GS", "1", "004010"),
    ("TX", "850", "0001", TX_SEGS),
    ("GE", ("GE", "1", "1"), 1),
    ("IEA", ("IEA", "1", "000000001"), 1),
]

# (name, bytes, expected summaries, complete before end of input)
CASES: list[tuple[str, bytes, list[tuple[object, ...]], bool]] = [
    ("plain", ISA_401 + b"~" + BODY + b"IEA*1*000000001~", SIMPLE, True),
    (
        "crlf suffix",
        (ISA_401 + b"~" + BODY + b"IEA*1*000000001~").replace(b"~", b"~\r\n"),
        [isa_event("000000001", suffix="\r\n"), *SIMPLE[1:]],
        True,
    ),
    (
        "bom, leading blank lines, trailing ctrl-z",
        b"\xef\xbb\xbf\r\n " + ISA_401 + b"~\n" + BODY.replace(b"~", b"~\n") + b"IEA*1*000000001~\n\x1a",
        [isa_event("000000001", suffix="\n"), *SIMPLE[1:]],
        True,
    ),
    (
        "bare LF terminator",
        (ISA_401 + b"\n" + BODY.replace(b"~", b"\n") + b"IEA*1*000000001\n"),
        [isa_event("000000001", segment="\n"), *SIMPLE[1:]],
        True,
    ),
    (
        "CR terminator with LF suffix",
        (ISA_401 + b"\r\n" + BODY.replace(b"~", b"\r\n") + b"IEA*1*000000001\r\n"),
        [isa_event("000000001", segment="\r", suffix="\n"), *SIMPLE[1:]],
        True,
    ),
    (
        "indented segments",
        ISA_401 + b"~\r\n  " + BODY.replace(b"~", b"~\r\n    ") + b"IEA*1*000000001~\r\n",
        [isa_event("000000001", suffix="\r\n"), *SIMPLE[1:]],
        True,
    ),
    (
        "multi-byte UTF-8 terminator (U+2026)",
        (ISA_401 + b"~" + BODY + b"IEA*1*000000001~").replace(b"~", "\u2026\n".encode()),
        [isa_event("000000001", segment="\xe2\x80\xa6", suffix="\n"), *SIMPLE[1:]],
        True,
    ),
    (
        "wrapped at 20 columns, also inside the ISA",
        b"\n".join(
            (ISA_401 + b"~" + BODY + b"IEA*1*000000001~")[i : i + 20]
            for i in range(0, len(ISA_401 + b"~" + BODY + b"IEA*1*000000001~"), 20)
        ),
        SIMPLE,
        True,
    ),
    (
        "unpadded ISA (not 106 bytes)",
        b"ISA*00* *00* *01*SENDER *01*RECV *070101*1130*U*00200*000000001*0*P*@!"
        + BODY.replace(b"~", b"!")
        + b"IEA*1*000000001!",
        [isa_event("000000001", segment="!", component="@"), *SIMPLE[1:]],
        True,
    ),
    (
        "repetition separator from 00501",
        ISA_501
        + b"~GS*PO*S*R*20240101*1200*1*X*005010~ST*850*0001~REF*ZZ*A^B~SE*3*0001~GE*1*1~IEA*1*000000002~",
        [
            isa_event("000000002", component=":", repetition="^"),
            ("GS", "1", "005010"),
            ("TX", "850", "0001", (("ST", "850", "0001"), ("REF", "ZZ", "A^B"), ("SE", "3", "0001"))),
            ("GE", ("GE", "1", "1"), 1),
            ("IEA", ("IEA", "1", "000000002"), 1),
        ],
        True,
    ),
    (
        "mailbag with different delimiters",
        ISA_401
        + b"~"
        + BODY
        + b"IEA*1*000000001~\n"
        + ISA_501.replace(b"*", b"|")
        + b"\n"
        + BODY.replace(b"*", b"|").replace(b"~", b"\n")
        + b"IEA|1|000000002\n",
        [
            *SIMPLE,
            isa_event("000000002", element="|", segment="\n", component=":", repetition="^"),
            *SIMPLE[1:4],
            ("IEA", ("IEA", "1", "000000002"), 1),
        ],
        True,
    ),
    (
        "TA1-only interchange",
        ISA_401 + b"~TA1*000000050*200229*1200*A*000~IEA*0*000000001~",
        [
            isa_event("000000001"),
            ("TA1", ("TA1", "000000050", "200229", "1200", "A", "000")),
            ("IEA", ("IEA", "0", "000000001"), 0),
        ],
        True,
    ),
    (
        "missing IEA at end of input",
        ISA_401 + b"~" + BODY,
        [*SIMPLE[:4], ("IEA", (), 1)],
        False,
    ),
    (
        "missing SE and GE",
        ISA_401 + b"~GS*PO*S*R*20240101*1200*1*X*004010~ST*850*0001~BEG*00~IEA*1*000000001~",
        [
            *SIMPLE[:2],
            ("TX", "850", "0001", (("ST", "850", "0001"), ("BEG", "00"))),
            ("GE", (), 1),
            ("IEA", ("IEA", "1", "000000001"), 1),
        ],
        True,
    ),
    (
        "unterminated last segment",
        ISA_401 + b"~" + BODY + b"IEA*1*000000001",
        SIMPLE,
        False,
    ),
    (
        "junk before the ISA",
        b"HELLO " + ISA_401 + b"~" + BODY + b"IEA*1*000000001~",
        [("ERR", "TA1:024", "interchange"), *SIMPLE],
        True,
    ),
    (
        "segment outside any group",
        ISA_401 + b"~N1*ST*X~" + BODY + b"IEA*1*000000001~",
        [isa_event("000000001"), ("ERR", "TA1:024", "interchange"), *SIMPLE[1:]],
        True,
    ),
    (
        "alphanumeric element separator",
        ISA_401.replace(b"*", b"A") + b"~",
        [("ERR", "TA1:026", "interchange")],
        False,
    ),
    (
        "terminator equal to the element separator",
        ISA_401 + b"*GS*",
        [("ERR", "TA1:004", "interchange")],
        False,
    ),
    ("truncated ISA", ISA_401[:50], [("ERR", "TA1:023", "interchange")], False),
    ("only whitespace", b" \r\n\x1a", [], True),
]


@pytest.mark.parametrize(("name", "data", "expected", "complete"), CASES, ids=[c[0] for c in CASES])
def test_events_whole_bytewise_chunked(
    name: str, data: bytes, expected: list[tuple[object, ...]], complete: bool
) -> None:
    whole, bytewise, chunked = three_ways(data)
    assert whole == expected
    assert bytewise == expected
    assert chunked == expected


@pytest.mark.parametrize(
    ("name", "data", "expected", "complete"), [c for c in CASES if c[3]], ids=[c[0] for c in CASES if c[3]]
)
def test_events_with_trailing_bytes(
    name: str, data: bytes, expected: list[tuple[object, ...]], complete: bool
) -> None:
    # The start of a next interchange must not hold back (or change) the events of this one.
    for chunk in (None, 1):
        got = [summarise(e) for e in feed(data + b"\r\nISA*00*", chunk, eof=False)]
        assert got == expected


def test_isa_values_and_properties() -> None:
    events = read_events(ISA_401 + b"~" + BODY + b"IEA*1*000000001~")
    isa = events[0]
    assert isinstance(isa, InterchangeStart)
    assert isa.segment == ISA_SEG_401
    assert len(isa.segment) == 17
    assert (isa.sender_qualifier, isa.sender_id, isa.receiver_id) == ("ZZ", "SENDER", "RECEIVER")
    assert (isa.version, isa.date, isa.time, isa.ack_requested, isa.test_indicator) == (
        "00401",
        "240101",
        "1200",
        False,
        False,
    )


def test_byte_offsets_name_the_segment() -> None:
    data = b"\xef\xbb\xbf" + ISA_401 + b"~\n  " + BODY.replace(b"~", b"~\n  ") + b"IEA*1*000000001~\n"
    for chunk in (None, 1):
        events = feed(data, chunk)
        for event in events:
            offset = event.byte_offset  # type: ignore[attr-defined]
            tag = summarise(event)[0]
            expected = {"ISA": b"ISA", "GS": b"GS*", "TX": b"ST*", "GE": b"GE*", "IEA": b"IEA"}[str(tag)]
            assert data[offset : offset + len(expected)] == expected


def test_error_names_the_place() -> None:
    events = read_events(b"xx" + ISA_401 + b"~" + BODY + b"IEA*1*000000001~")
    error = events[0]
    assert isinstance(error, RemoteSyntaxError)
    assert error.location.byte_offset == 0
    assert "byte 0" in str(error)


def test_oversize_segment_is_reported_and_reader_resyncs() -> None:
    opts = TranslatorOptions(max_segment_bytes=64)
    data = (
        ISA_401
        + b"~GS*PO*"
        + b"X" * 200
        + b"~"
        + BODY
        + b"IEA*1*000000001~"
        + ISA_401
        + b"~"
        + BODY
        + b"IEA*1*000000001~"
    )
    for chunk in (None, 16):
        reader = X12Reader(opts)
        got = [summarise(e) for e in feed(data, chunk, reader=reader)]
        assert got[0] == isa_event("000000001")
        assert got[1] == ("ERR", "TA1:024", "interchange")
        assert got[2] == ("IEA", (), 0)  # the abandoned interchange is closed
        assert got[3:] == SIMPLE


def test_oversize_transaction_is_skipped() -> None:
    opts = TranslatorOptions(max_transaction_segments=3)
    data = (
        ISA_401
        + b"~GS*PO*S*R*20240101*1200*1*X*004010~ST*850*0001~"
        + b"N9*A~" * 10
        + b"SE*12*0001~"
        + b"ST*850*0002~SE*2*0002~GE*2*1~IEA*1*000000001~"
    )
    events = read_events(data, opts)
    errors = [e for e in events if isinstance(e, RemoteSyntaxError)]
    assert len(errors) == 1 and isinstance(errors[0], TransactionSetError)
    assert errors[0].set_id == "850" and errors[0].ack_hint == "AK5:5"
    tx = [summarise(e) for e in events if summarise(e)[0] == "TX"]
    assert tx == [("TX", "850", "0002", (("ST", "850", "0002"), ("SE", "2", "0002")))]


def test_data_after_end_of_input_is_a_caller_bug() -> None:
    reader = X12Reader()
    reader.receive_data(b"")
    with pytest.raises(RuntimeError):
        reader.receive_data(b"ISA")


def test_finished_and_need_data() -> None:
    reader = X12Reader()
    reader.receive_data(ISA_401[:10])
    assert reader.next_event() is NEED_DATA
    assert not reader.finished
    reader.receive_data(ISA_401[10:] + b"~" + BODY + b"IEA*1*000000001~")
    out: list[object] = []
    drain(reader, out)
    reader.receive_data(b"")
    drain(reader, out)
    assert len(out) == 5
    assert reader.finished


def test_memory_holds_one_transaction_at_a_time() -> None:
    # Feed many transaction sets; the reader must not keep earlier ones.
    reader = X12Reader()
    reader.receive_data(ISA_401 + b"~GS*PO*S*R*20240101*1200*1*X*004010~")
    drain(reader, [])
    for n in range(200):
        reader.receive_data(b"ST*850*%04d~BEG*00*SA*1**20240101~SE*3*%04d~" % (n, n))
        out: list[object] = []
        drain(reader, out)
        assert len(out) == 1
        assert len(reader._parts) < 10 and len(reader._text) < 100


def test_components_and_repetitions() -> None:
    d = Delimiters(component=":", repetition="^")
    assert components("PC:1::LB", d) == ["PC", "1", "", "LB"]
    assert repetitions("A^B", d) == ["A", "B"]
    assert repetitions("A^B", Delimiters()) == ["A^B"]
    with pytest.raises(ValueError, match="ambiguous"):
        Delimiters(element="*", segment="*")


def test_transaction_set_fields_in_reader_order() -> None:
    # The reader builds TransactionSet positionally (hot path): its fields must keep this order.
    names = [f.name for f in dataclasses.fields(TransactionSet)]
    assert names == [
        "set_id",
        "control",
        "segments",
        "version",
        "group_control",
        "interchange_control",
        "delimiters",
        "implementation_ref",
        "functional_id",
        "index",
        "byte_offset",
        "plain",
    ]
    events = read_events(ISA_401 + b"~GS*PO*S*R*20240101*1200*7*X*004010~ST*850*0001*ref~SE*2*0001~GE*1*7~")
    tx = next(e for e in events if isinstance(e, TransactionSet))
    assert (tx.set_id, tx.control, tx.version, tx.group_control, tx.implementation_ref) == (
        "850",
        "0001",
        "004010",
        "7",
        "ref",
    )
    assert (tx.functional_id, tx.index, tx.segments[0][0], tx.delimiters.element) == ("PO", 1, "ST", "*")


_PLAIN_GROUP = (
    b"~GS*PO*S*R*20240101*1200*7*X*004010~ST*850*0001~BEG*00*SA*PO1**20240101~SE*3*0001~GE*1*7~"
    b"IEA*1*000000001~"
)


def _plain_flags(data: bytes, step: int | None = None) -> list[bool]:
    reader = X12Reader()
    out: list[bool] = []
    for chunk in [data] if step is None else [data[i : i + step] for i in range(0, len(data), step)]:
        reader.receive_data(chunk)
        while (event := reader.next_event()) is not NEED_DATA:
            if isinstance(event, TransactionSet):
                out.append(event.plain)
    reader.receive_data(b"")
    while (event := reader.next_event()) is not NEED_DATA:
        if isinstance(event, TransactionSet):
            out.append(event.plain)
    return out


@pytest.mark.parametrize(
    ("body", "plain"),
    [
        (_PLAIN_GROUP, True),
        (_PLAIN_GROUP.replace(b"~", b"~\r\n"), True),  # CR/LF after every terminator is layout
        (_PLAIN_GROUP.replace(b"PO1", b"P\x01O"), False),  # a control character in an element
        (_PLAIN_GROUP.replace(b"PO1", b"P\tO"), False),
        (_PLAIN_GROUP.replace(b"PO1", b"P\xe9O"), False),  # not ASCII
        (_PLAIN_GROUP.replace(b"PO1", b"P\nO"), False),  # a line break inside a segment
    ],
)
def test_plain_vouches_only_for_printable_ascii_elements(body: bytes, plain: bool) -> None:
    # TransactionSet.plain lets validation skip its per-character checks: it must never be True
    # when an element holds a control character or a byte above 0x7F.
    assert _plain_flags(ISA_401 + body) == [plain]
    for step in (1, 7, 64):
        # Chunking may make the reader more cautious, never less.
        assert _plain_flags(ISA_401 + body, step) in ([plain], [False])


def test_plain_is_not_part_of_the_value() -> None:
    (tx,) = [e for e in read_events(ISA_401 + _PLAIN_GROUP) if isinstance(e, TransactionSet)]
    assert tx.plain
    other = dataclasses.replace(tx, plain=False)
    assert other == tx and repr(other) == repr(tx)


def _sets(data: bytes, reader: X12Reader | None = None) -> list[TransactionSet]:
    r = reader or X12Reader()
    r.receive_data(data)
    r.receive_data(b"")
    out: list[object] = []
    drain(r, out)
    return [e for e in out if isinstance(e, TransactionSet)]


def test_repeated_segments_share_one_tuple() -> None:
    # The reader memoises body segments by their raw text: equal segments are the same tuple.
    body = (
        b"GS*PO*S*R*20240101*1200*1*X*004010~ST*850*0001~BEG*00*SA*1**20240101~SE*3*0001~"
        b"ST*850*0002~BEG*00*SA*1**20240101~SE*3*0002~GE*2*1~"
    )
    first, second = _sets(ISA_401 + b"~" + body + b"IEA*1*000000001~")
    assert first.segments[1] == ("BEG", "00", "SA", "1", "", "20240101")
    assert first.segments[1] is second.segments[1]


def test_segment_memo_follows_the_element_separator() -> None:
    # The same raw text splits differently under another interchange's element separator: the
    # memo must not hand out the first interchange's tuple.
    star = ISA_401 + b"~" + BODY + b"IEA*1*000000001~"
    isa_pipe = ISA_401.replace(b"*", b"|").replace(b"000000001", b"000000002")
    pipe = (
        isa_pipe
        + b"~GS|PO|S|R|20240101|1200|1|X|004010~ST|850|0001~BEG*00*SA*1**20240101~SE|3|0001~GE|1|1~"
        + b"IEA|1|000000002~"
    )
    reader = X12Reader()
    reader.receive_data(star + pipe)
    reader.receive_data(b"")
    out: list[object] = []
    drain(reader, out)
    first, second = [e for e in out if isinstance(e, TransactionSet)]
    assert first.segments[1] == ("BEG", "00", "SA", "1", "", "20240101")
    assert second.segments[1] == ("BEG*00*SA*1**20240101",)


def test_segment_memo_is_bounded() -> None:
    from translators.x12.reader import _SEGMENT_MEMO_LIMIT

    count = _SEGMENT_MEMO_LIMIT + 10
    body = b"".join(b"REF*ZZ*%d~" % i for i in range(count))
    data = (
        ISA_401
        + b"~GS*PO*S*R*20240101*1200*1*X*004010~ST*850*0001~"
        + body
        + b"SE*%d*0001~GE*1*1~IEA*1*000000001~" % (count + 2)
    )
    reader = X12Reader()
    (tx,) = _sets(data, reader)
    assert [seg[2] for seg in tx.segments[1:-1]] == [str(i) for i in range(count)]
    assert len(reader._memo) <= _SEGMENT_MEMO_LIMIT
    # Not one segment repeated: the memo did not pay and rests.
    assert reader._memo_paused > 0


# Tags as partners spell them, valid and not: the reader's tag table must agree with a plain split.
_TAG_TEXT = st.text(alphabet="ABNOSTEGIZ0129ae*~>| \xe9", min_size=0, max_size=7)


@given(raw=_TAG_TEXT, element=st.sampled_from(["*", "|", "E", "1"]))
@settings(max_examples=2_000, deadline=None)
def test_body_fields_agree_with_a_plain_split(raw: str, element: str) -> None:
    # The hot path names a body segment's tag from its first characters before it splits; the
    # result must be the split, tag interned, or None exactly when the tag is an envelope tag.
    from translators.x12.reader import _ENVELOPE, _body_fields, _interned

    fields = raw.split(element)
    got = _body_fields(raw, element, ord(element))
    if fields[0] in _ENVELOPE:
        assert got is None
        return
    assert got == fields
    tag = fields[0]
    if 2 <= len(tag) <= 3 and all(c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" for c in tag):
        # an X12 tag: interned, so it meets the compiled literals by identity
        assert got is not None and got[0] is sys.intern(tag)
        assert _interned(tag) is sys.intern(tag)
    else:
        assert _interned(tag) == tag


def test_tag_codes_name_every_tag_once() -> None:
    # Two tags sharing a code would read one as the other (an N1 as an N10, a GS as a G5S).
    from translators.x12.reader import _TAG_CODES, _tag_code

    symbols = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    tags = [a + b for a in symbols for b in symbols]
    tags += [t + c for t in tags for c in symbols]
    codes = [_tag_code(tag + "*1", 42) for tag in tags]
    assert len(set(codes)) == len(tags) and min(codes) > 0 and max(codes) < _TAG_CODES
    assert codes == [_tag_code(tag, 42) for tag in tags]  # a segment of its tag alone
    for other in ["", "A", "A*", "ABCD*1", "ab*1", "A-B*1", "N1>2", "\xe9A*1"]:
        assert _tag_code(other, 42) == -1, other


@pytest.mark.parametrize(("suffix", "into_suffix"), [(b"\n", 0), (b"\r\n", 0), (b"\r\n", 1)])
def test_a_chunk_that_ends_between_terminator_and_suffix_keeps_the_fast_path(
    suffix: bytes, into_suffix: int
) -> None:
    # A feed cut right after a "~" (or inside its "\r\n") must hold that segment back until its
    # line end arrives. Split there, the next chunk started with the line end alone, as layout,
    # and both whole chunks took the careful per-segment path: the reader ran at a third of its
    # speed on big files, which every 1 MiB boundary that fell so could cost.
    segments = [b"ST*850*%04d", b"BEG*00*SA*PO%d**20240101", b"REF*DP*%d", b"SE*4*%04d"]
    sets = b"".join(b"".join(seg % n + b"~" + suffix for seg in segments) for n in range(1, 201))
    data = (
        ISA_401 + b"~" + suffix + b"GS*PO*S*R*20240101*1200*1*X*004010~" + suffix + sets
        + b"GE*200*1~" + suffix + b"IEA*1*000000001~"
    )  # fmt: skip
    whole = _sets(data)
    cut = data.index(b"REF*DP*100~") + len(b"REF*DP*100~") + into_suffix
    reader = X12Reader()
    out: list[object] = []
    reader.receive_data(data[:cut])
    drain(reader, out)
    assert reader._clean_parts  # this chunk went the fast way
    assert reader._text == "REF*DP*100~" + suffix[:into_suffix].decode()  # held back, not read
    reader.receive_data(data[cut:])
    drain(reader, out)
    assert reader._clean_parts  # and so did the next, which starts with the held segment
    reader.receive_data(b"")
    drain(reader, out)
    sets_read = [e for e in out if isinstance(e, TransactionSet)]
    assert [tx.segments for tx in sets_read] == [tx.segments for tx in whole]
    assert len(sets_read) == 200 and not [e for e in out if isinstance(e, RemoteSyntaxError)]
    # The last segment, with no line end, is read at the end of input.
    assert any(type(e).__name__ == "InterchangeEnd" for e in out)
