"""EDIFACT: streaming reader and writer, envelope checks, CONTRL/APERAK, translation.

Layers, each knowing only the one below (httpx style):

* :mod:`.syntax` — delimiters, segments and the reader's events (the
  contract the maps code against);
* :mod:`.reader` — :class:`EdifactReader`, sans-I/O, bytes in, events out;
* :mod:`.envelope` — ISO 9735 field checks of the service segments;
* :mod:`.syntax_model` / :mod:`.writer` — the lossless syntax layer and
  rendering back to bytes;
* :mod:`.acks` — CONTRL out, CONTRL and APERAK in;
* :mod:`.translator` — :func:`translate_edifact` and
  :func:`iter_translate_edifact`, folding events into documents.
"""

from __future__ import annotations

from .reader import EdifactReader, ReaderState
from .syntax import (
    NEED_DATA,
    Delimiters,
    GroupEnd,
    GroupStart,
    InterchangeEnd,
    InterchangeStart,
    Message,
    Repeated,
    Segment,
    component,
    element,
)
from .syntax_model import InterchangeBuilder, InterchangeModel, MessageDocument
from .translator import EdifactTranslator, iter_translate_edifact, translate_edifact
from .writer import EdifactWriter, render_segment, write_interchange, write_model

__all__ = [
    "NEED_DATA",
    "Delimiters",
    "EdifactReader",
    "EdifactTranslator",
    "EdifactWriter",
    "GroupEnd",
    "GroupStart",
    "InterchangeBuilder",
    "InterchangeEnd",
    "InterchangeModel",
    "InterchangeStart",
    "Message",
    "MessageDocument",
    "ReaderState",
    "Repeated",
    "Segment",
    "component",
    "element",
    "iter_translate_edifact",
    "render_segment",
    "translate_edifact",
    "write_interchange",
    "write_model",
]
