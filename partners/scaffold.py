"""Scaffold a partner profile from a sample interchange.

``edigate partners new --from-sample FILE`` reads the envelope of a file the
partner sent (never the business content) and writes a profile that
already validates: the sender's interchange IDs and qualifiers, the GS /
UNG application codes, our receiving IDs, the version, and one inbound
document per transaction set or message type found.  Acknowledgments in
the sample (997, 999, TA1, CONTRL) are not documents and are skipped.

The envelope scan here is deliberately small and forgiving (no
validation: the translators do that); it only has to find the IDs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from translators import detect_standard

_LEADING_JUNK = re.compile(r"^[^A-Za-z0-9]+")
_ACK_SETS = frozenset({"997", "999", "TA1", "CONTRL", "APERAK"})


@dataclass(slots=True)
class SampleEnvelope:
    """What the envelope of a sample says about its sender."""

    standard: str
    sender_qualifier: str | None
    sender_id: str
    receiver_qualifier: str | None
    receiver_id: str | None
    version: str | None = None
    application_senders: list[str] = field(default_factory=list)
    #: (document type, version) in order of appearance
    documents: list[tuple[str, str | None]] = field(default_factory=list)


def _strip_bom(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("latin-1").lstrip(" \t\r\n\x00")


def _x12_envelopes(text: str) -> list[SampleEnvelope]:
    sep = text[3:4]
    # ISA has 16 elements; the 16th is one character (the component separator)
    # and the character after it terminates the segment.
    parts = text.split(sep, 16)
    if len(parts) < 17 or len(parts[16]) < 2:
        return []
    terminator = parts[16][1]
    body = text.replace("\r\n", "\n") if terminator in "\r\n" else text
    if terminator == "\r":
        terminator = "\n"
    envelopes: list[SampleEnvelope] = []
    current: SampleEnvelope | None = None
    group_version: str | None = None
    for raw in body.split(terminator):
        # A multi-byte terminator (UTF-8 "…") leaves its tail bytes at the next segment's start.
        segment = _LEADING_JUNK.sub("", raw).rstrip(" \t\r\n\x00")
        if not segment:
            continue
        elements = segment.split(sep)
        tag = elements[0]
        if tag == "ISA" and len(elements) >= 13:
            current = SampleEnvelope(
                "x12",
                elements[5].strip() or None,
                elements[6].strip(),
                elements[7].strip() or None,
                elements[8].strip() or None,
                version=elements[12].strip() or None,
            )
            envelopes.append(current)
        elif current is None:
            continue
        elif tag == "GS" and len(elements) >= 9:
            group_version = elements[8].strip() or None
            if elements[2].strip() and elements[2].strip() not in current.application_senders:
                current.application_senders.append(elements[2].strip())
        elif tag == "ST" and len(elements) >= 2:
            entry = (elements[1].strip(), group_version)
            if entry not in current.documents:
                current.documents.append(entry)
        elif tag == "TA1" and ("TA1", None) not in current.documents:
            current.documents.append(("TA1", None))
    return envelopes


def _edifact_segments(text: str) -> list[list[list[str]]]:
    comp, elem, release, term = ":", "+", "?", "'"
    if text.startswith("UNA") and len(text) >= 9:
        # UNA: component, element, decimal mark, release, reserved, terminator
        comp, elem, release, term = text[3], text[4], text[6], text[8]
        text = text[9:]
    segments: list[list[list[str]]] = []
    seg: list[list[str]] = [[""]]
    escaped = False
    for ch in text:
        if escaped:
            seg[-1][-1] += ch
            escaped = False
        elif ch == release and release != " ":
            escaped = True
        elif ch == term:
            segments.append(seg)
            seg = [[""]]
        elif ch == elem:
            seg.append([""])
        elif ch == comp:
            seg[-1].append("")
        elif ch in "\r\n" and seg == [[""]]:
            continue  # line breaks between segments
        else:
            seg[-1][-1] += ch
    return [[[c.strip() for c in e] for e in s] for s in segments]


def _edifact_envelopes(text: str) -> list[SampleEnvelope]:
    envelopes: list[SampleEnvelope] = []
    current: SampleEnvelope | None = None
    for seg in _edifact_segments(text):
        tag = seg[0][0].strip()
        if tag == "UNB" and len(seg) >= 4:
            sender, receiver = seg[2], seg[3]
            current = SampleEnvelope(
                "edifact",
                sender[1] if len(sender) > 1 and sender[1] else None,
                sender[0],
                receiver[1] if len(receiver) > 1 and receiver[1] else None,
                receiver[0] or None,
                version=":".join(seg[1][:2]) if seg[1] else None,
            )
            envelopes.append(current)
        elif current is None:
            continue
        elif tag == "UNG" and len(seg) >= 3 and seg[2][0] and seg[2][0] not in current.application_senders:
            current.application_senders.append(seg[2][0])
        elif tag == "UNH" and len(seg) >= 3:
            ident = seg[2] + ["", "", "", ""]
            version = ":".join(ident[1:4]) if ident[1] else None
            entry = (ident[0], version)
            if ident[0] and entry not in current.documents:
                current.documents.append(entry)
    return envelopes


def sample_envelopes(data: bytes) -> list[SampleEnvelope]:
    """Scan the envelopes of an X12 or EDIFACT file.

    Args:
        data: the sample's bytes.

    Returns:
        One entry per interchange (empty when the file is neither standard
        or has no readable header).
    """
    standard = detect_standard(data)
    text = _strip_bom(data)
    if standard == "x12":
        return _x12_envelopes(text)
    if standard == "edifact":
        return _edifact_envelopes(text)
    return []


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _slug(value: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", value.strip().lower()).strip("-._")
    return (slug or "partner")[:64]


def scaffold_profile(data: bytes, *, partner_id: str | None = None, name: str | None = None) -> str:
    """Write a profile (TOML text) for the partner that sent ``data``.

    Args:
        data: a sample interchange the partner sent (X12 or EDIFACT).
        partner_id: the id to use; derived from the sender ID when None.
        name: display name; derived from the id when None.

    Returns:
        TOML text that validates as a profile.

    Raises:
        ValueError: the sample is not X12 or EDIFACT, or has no readable envelope.
    """
    envelopes = sample_envelopes(data)
    if not envelopes:
        raise ValueError("the sample is not an X12 or EDIFACT interchange with a readable envelope")
    first = envelopes[0]
    pid = _slug(partner_id or first.sender_id)
    lines = [
        f"# Scaffolded from a sample {first.standard.upper()} interchange; review before use.",
        f"id = {_toml_str(pid)}",
        f"name = {_toml_str(name or f'Partner {first.sender_id}')}",
        "",
        "[identities]",
    ]
    idents: list[str] = []
    seen: set[tuple[str | None, str]] = set()
    for env in envelopes:
        key = (env.sender_qualifier, env.sender_id)
        if key in seen or not env.sender_id:
            continue
        seen.add(key)
        codes = ", ".join(_toml_str(c) for c in env.application_senders)
        if env.standard == "x12":
            qualifier = (env.sender_qualifier or "ZZ").upper()
            idents.append(
                f"    {{ qualifier = {_toml_str(qualifier)}, id = {_toml_str(env.sender_id)}, "
                f"application_codes = [{codes}] }},"
            )
        else:
            qual = f", qualifier = {_toml_str(env.sender_qualifier)}" if env.sender_qualifier else ""
            idents.append(f"    {{ id = {_toml_str(env.sender_id)}{qual}, application_codes = [{codes}] }},")
    lines += [f"{first.standard} = [", *idents, "]", f"inbox = {_toml_str(pid)}", ""]
    if first.receiver_id:
        lines.append("[our_ids]")
        if first.standard == "x12":
            lines.append(
                f"x12 = {{ qualifier = {_toml_str((first.receiver_qualifier or 'ZZ').upper())}, "
                f"id = {_toml_str(first.receiver_id)} }}"
            )
        else:
            qual = f", qualifier = {_toml_str(first.receiver_qualifier)}" if first.receiver_qualifier else ""
            lines.append(f"edifact = {{ id = {_toml_str(first.receiver_id)}{qual} }}")
        lines.append("")
    found: list[tuple[str, str | None]] = []
    acks: list[str] = []
    for env in envelopes:
        for doc in env.documents:
            if doc[0] in _ACK_SETS:
                acks.append(doc[0])
            elif doc[0] not in [d[0] for d in found]:
                found.append(doc)
    if acks:
        lines.append(
            f"# The sample also holds acknowledgments ({', '.join(sorted(set(acks)))}); they need no entry."
        )
        lines.append("")
    for doc_type, version in found:
        valid = doc_type.isdigit() if first.standard == "x12" else (doc_type.isalpha() and doc_type.isupper())
        if not valid:
            lines.append(f"# skipped unrecognised document type {doc_type!r}")
            continue
        lines += ["[[documents]]", f"type = {_toml_str(doc_type)}", f"standard = {_toml_str(first.standard)}"]
        if version:
            lines.append(f"version = {_toml_str(version)}")
        lines += ['direction = "inbound"', ""]
    x12_kind = "auto"
    if first.standard == "x12":
        versions = [v for _, v in found if v] or [first.version or ""]
        x12_kind = "999" if any(v[:6] >= "005010" for v in versions if v[:6].isdigit()) else "997"
    lines += [
        "[acks]",
        'functional_ack = "always"',
        f"x12_kind = {_toml_str(x12_kind)}",
        "",
        "[duplicates]",
        'policy = "reject"',
        "window_days = 30",
        "",
        "[routing]",
        "sinks = []",
        "",
    ]
    return "\n".join(lines)


__all__ = ["SampleEnvelope", "sample_envelopes", "scaffold_profile"]
