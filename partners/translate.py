"""Translate one inbound file with what a partner's profile declares.

X12 and EDIFACT carry their own envelope and go to
:func:`translators.translate`; CSV, fixed width and XML carry nothing that
says what they are, so the profile's declared inbound layouts are tried:
XML layouts whose root element matches, then fixed-width layouts (their
record tags make them strict), then CSV layouts.  The first layout that
reads the file without a syntax error wins; when none does, the error
names every layout tried and why it failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from translators import RemoteSyntaxError, Translation, TranslatorOptions, detect_standard, translate
from translators.flatfile import FlatLayout, read_flat, render_flat
from translators.xml import XmlLayout, read_xml, render_xml

from .profile import Profile


def translate_with_profile(profile: Profile | None, data: bytes, options: TranslatorOptions) -> Translation:
    """Translate one file for a partner.

    Args:
        profile: the partner, when known (flat files and XML need it; X12 and
            EDIFACT are read without one so the pipeline can identify the
            partner from the envelope).
        data: the raw bytes as received.
        options: from :meth:`Profile.translator_options`.

    Returns:
        The documents, acknowledgments and problems.

    Raises:
        RemoteSyntaxError: nothing the profile declares fits the bytes.
    """
    standard = detect_standard(data)
    if standard in ("x12", "edifact"):
        return translate(data, options)
    if profile is None:
        raise RemoteSyntaxError(
            "not X12 or EDIFACT, and no partner profile is known to read it as CSV, fixed width or XML",
            scope="interchange",
        )
    candidates: list[FlatLayout | XmlLayout] = []
    if standard == "xml" or data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 XML has a BOM
        candidates += profile.layouts_for("xml")
    candidates += profile.layouts_for("fixed")
    candidates += profile.layouts_for("csv")
    if not candidates:
        raise RemoteSyntaxError(
            f"partner {profile.id!r} declares no inbound CSV, fixed-width or XML layout, "
            "and the file is not X12 or EDIFACT",
            scope="interchange",
        )
    failures: list[str] = []
    for layout in candidates:
        try:
            if isinstance(layout, XmlLayout):
                return read_xml(data, layout, options)
            return read_flat(data, layout, options)
        except RemoteSyntaxError as exc:
            failures.append(f"{layout.format} layout for {layout.document_type}: {exc}")
    raise RemoteSyntaxError(
        f"no layout of partner {profile.id!r} reads this file: " + "; ".join(failures), scope="interchange"
    )


def render_with_profile(
    profile: Profile, document_type: str, documents: Sequence[Mapping[str, Any]]
) -> bytes:
    """Render outbound canonical documents in the partner's CSV, fixed-width or XML layout.

    X12 and EDIFACT outbound documents are rendered by their writers; this
    covers the formats a profile describes with a layout.

    Args:
        profile: the receiving partner.
        document_type: canonical name (``ship_notice``); the profile must
            declare an outbound csv/fixed/xml document whose layout has this type.
        documents: the documents (JSON-compatible dicts; a top-level
            ``extensions`` dict feeds ``extensions.*`` fields).

    Returns:
        The file's bytes.

    Raises:
        LookupError: the profile declares no such outbound layout.
        translators.LocalTranslationError: a document does not fit the layout.
    """
    for standard in ("xml", "fixed", "csv"):
        for layout in profile.layouts_for(standard, direction="outbound"):
            if layout.document_type != document_type:
                continue
            if isinstance(layout, XmlLayout):
                return render_xml(documents, layout)
            return render_flat(documents, layout)
    raise LookupError(f"partner {profile.id!r} declares no outbound CSV, fixed-width or XML {document_type}")


__all__ = ["render_with_profile", "translate_with_profile"]
