"""Flat files (CSV and fixed width) through declarative layouts, both directions.

Pure: bytes and a layout in, a :class:`translators.Translation` out
(:func:`read_flat`), and canonical documents back to bytes
(:func:`render_flat`).  A partner's malformed file raises
:class:`translators.RemoteSyntaxError`; a document the layout cannot carry
raises :class:`translators.LocalTranslationError`.
"""

from __future__ import annotations

from .layout import CsvLayout, FieldSpec, FixedLayout, FlatLayout, RecordSpec, layout_problems
from .paths import PathError, get_path, parse_path, set_path
from .reader import read_flat
from .values import format_value, parse_value
from .writer import render_flat

__all__ = [
    "CsvLayout",
    "FieldSpec",
    "FixedLayout",
    "FlatLayout",
    "PathError",
    "RecordSpec",
    "format_value",
    "get_path",
    "layout_problems",
    "parse_path",
    "parse_value",
    "read_flat",
    "render_flat",
    "set_path",
]
