"""stub"""
from __future__ import annotations
MESSAGE = "IFTSTA"
def read(msg, options):  # type: ignore[no-untyped-def]
    raise NotImplementedError
def write(w, doc):  # type: ignore[no-untyped-def]
    raise NotImplementedError
