"""``edigate translate FILE``: what a file becomes, without the daemon."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from pathlib import Path
from typing import Any

from translators import RemoteSyntaxError, Translation, TranslationError, TranslatorOptions, translate

from .config import default_config_path, load_config
from .errors import ConfigError

EX_OK = 0
EX_DATAERR = 65
EX_NOINPUT = 66
EX_CONFIG = 78


def translation_json(translation: Translation) -> dict[str, Any]:
    """A translation as JSON-able data."""
    return {
        "standard": translation.standard,
        "rejected": translation.rejected,
        "documents": [
            {
                "document_type": d.document_type,
                "schema_version": d.schema_version,
                "transaction_set": d.transaction_set,
                "envelope": {k: getattr(d.envelope, k) for k in d.envelope.__dataclass_fields__},
                "document": d.document,
                "extensions": d.extensions,
                "warnings": list(d.warnings),
            }
            for d in translation.documents
        ],
        "acks": [
            {
                "kind": a.kind,
                "accepted": a.accepted,
                "answers": a.answers,
                "payload": a.payload.decode("latin-1"),
            }
            for a in translation.acks
        ],
        "errors": [
            {"message": e.message, "where": e.location.describe(), "ack_hint": e.ack_hint, "scope": e.scope}
            for e in translation.errors
        ],
    }


def translate_file(args: argparse.Namespace) -> int:
    """Translate ``args.file``; canonical JSON on stdout, or one line on stderr and exit 65."""
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror}", file=sys.stderr)
        return EX_NOINPUT
    now = _dt.datetime.now(tz=_dt.UTC)
    profile = None
    if args.partner:
        try:
            import partners

            cfg = load_config(Path(args.config) if args.config else default_config_path())
            registry, _errors = partners.load_registry(cfg.gateway.partners_dir)
        except ConfigError as exc:
            print("; ".join(exc.problems), file=sys.stderr)
            return EX_CONFIG
        profile = registry.get(args.partner)
        if profile is None:
            print(f"unknown partner {args.partner!r}", file=sys.stderr)
            return EX_CONFIG
    try:
        if profile is not None:
            import partners
            from translators import ControlNumbers

            options = profile.translator_options(now=now, control_numbers=ControlNumbers())
            if args.syntax:
                options = _syntax_only(options)
            translation = partners.translate_with_profile(profile, data, options)
        else:
            options = TranslatorOptions(now=now, map_business=not args.syntax)
            translation = translate(data, options)
    except RemoteSyntaxError as exc:
        print(f"{path.name}: rejected: {exc}", file=sys.stderr)
        return EX_DATAERR
    except TranslationError as exc:
        print(f"{path.name}: cannot translate: {exc}", file=sys.stderr)
        return EX_DATAERR
    out = translation_json(translation)
    print(json.dumps(out, indent=2, default=str))
    if translation.rejected or (not translation.documents and translation.errors):
        print(f"{path.name}: rejected: {translation.reason}", file=sys.stderr)
        return EX_DATAERR
    return EX_OK


def _syntax_only(options: TranslatorOptions) -> TranslatorOptions:
    import dataclasses

    return dataclasses.replace(options, map_business=False)


__all__ = ["translate_file", "translation_json"]
