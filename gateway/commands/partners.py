"""``edigate partners ...``: list, show, validate, schema, test and scaffold profiles.

The lead's CLI calls :func:`register` with its sub-parsers; each handler
takes the parsed arguments and returns the exit code.  The profile folder
comes from ``args.partners_dir`` (filled from the config by the main CLI;
``--partners-dir`` on each sub-command makes them usable stand-alone).

Exit codes: 0 success; 1 invalid profiles or a partner not found;
65 (``EX_DATAERR``) when ``test`` finds the file would be rejected;
66 (``EX_NOINPUT``) when a file or folder cannot be read.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from pathlib import Path
from typing import Any

from partners import Profile, ProfileError, Registry, load_profile, load_registry, translate_with_profile
from partners.scaffold import sample_envelopes, scaffold_profile
from partners.schema import profile_json_schema
from translators import ControlNumbers, RemoteSyntaxError, Translation

EX_OK = 0
EX_INVALID = 1
EX_DATAERR = 65
EX_NOINPUT = 66

#: scopes that keep a document from being forwarded (segment-level problems are warnings)
_REJECTING = ("interchange", "group", "transaction")


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _folder(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "partners_dir", None) or "partners.d")


def _load(args: argparse.Namespace) -> tuple[Registry, list[ProfileError]] | None:
    folder = _folder(args)
    if not folder.is_dir():
        print(f"{folder}: partner folder does not exist", file=sys.stderr)
        return None
    return load_registry(folder)


def _summary(profile: Profile) -> dict[str, Any]:
    m = profile.model
    idents: list[str] = [f"x12 {i.qualifier}:{i.id}" for i in m.identities.x12]
    idents += [f"edifact {i.id}" + (f":{i.qualifier}" if i.qualifier else "") for i in m.identities.edifact]
    if m.identities.as2_name:
        idents.append(f"as2 {m.identities.as2_name}")
    if m.identities.sftp:
        idents.append(f"sftp {m.identities.sftp.user}")
    idents += [f"mail {a}" for a in m.identities.mail_senders]
    if m.identities.inbox:
        idents.append(f"inbox {m.identities.inbox}")
    return {
        "id": profile.id,
        "name": profile.name,
        "file": str(profile.source_path),
        "identities": idents,
        "documents": [
            f"{d.direction} {d.standard} {d.type}" + (f" {d.version}" if d.version else "")
            for d in m.documents
        ],
        "sinks": list(profile.sinks),
        "duplicates": f"{profile.duplicate_policy} within {profile.duplicate_window_days} days",
        "delivery": m.delivery.transport if m.delivery else None,
    }


# -- handlers -----------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    """List the valid profiles of the folder (problems go to stderr)."""
    loaded = _load(args)
    if loaded is None:
        return EX_NOINPUT
    registry, errors = loaded
    rows = [_summary(p) for p in registry.profiles]
    if args.json:
        _print_json({"partners": rows, "errors": [e.to_json() for e in errors]})
    else:
        if not rows:
            print("no valid partner profiles")
        width = max((len(r["id"]) for r in rows), default=2)
        for r in rows:
            docs = ", ".join(r["documents"]) or "no documents"
            print(f"{r['id']:<{width}}  {r['name']}  [{docs}]")
    for e in errors:
        print(f"problem: {e}", file=sys.stderr)
    return EX_OK


def cmd_show(args: argparse.Namespace) -> int:
    """Show one profile (as loaded, with defaults filled in)."""
    loaded = _load(args)
    if loaded is None:
        return EX_NOINPUT
    registry, _ = loaded
    profile = registry.get(args.id)
    if profile is None:
        print(f"no valid profile with id {args.id!r} in {_folder(args)}", file=sys.stderr)
        return EX_INVALID
    if args.json:
        _print_json({"file": str(profile.source_path), "profile": profile.model.model_dump(mode="json")})
        return EX_OK
    summary = _summary(profile)
    print(f"{profile.id}: {profile.name}")
    print(f"  file:        {summary['file']}")
    for key in ("identities", "documents"):
        print(f"  {key}:")
        for item in summary[key]:
            print(f"    - {item}")
    acks = profile.model.acks
    print(
        f"  acks:        functional {acks.functional_ack} ({acks.x12_kind}), TA1 {acks.ta1}, "
        f"expect ours acked within {acks.expect_ack_within_hours or '-'} h"
    )
    print(f"  duplicates:  {summary['duplicates']}")
    print(f"  sinks:       {', '.join(profile.sinks) or '(default sinks)'}")
    print(f"  delivery:    {summary['delivery'] or '-'}")
    if profile.model.layouts:
        print(f"  layouts:     {', '.join(f'{k} ({v.format})' for k, v in profile.model.layouts.items())}")
    return EX_OK


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate a profile file or a whole folder; print every problem."""
    target = Path(args.path) if args.path else _folder(args)
    if target.is_dir():
        registry, errors = load_registry(target)
        count = len(registry.profiles)
    elif target.is_file():
        profile, errors = load_profile(target)
        count = 1 if profile is not None else 0
    else:
        print(f"{target}: no such file or folder", file=sys.stderr)
        return EX_NOINPUT
    for error in errors:
        print(error)
    files = {e.file for e in errors}
    print(f"{count} valid profile(s), {len(errors)} problem(s) in {len(files)} file(s)", file=sys.stderr)
    return EX_INVALID if errors else EX_OK


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the profile JSON Schema."""
    _print_json(profile_json_schema())
    return EX_OK


def _find_profile(args: argparse.Namespace) -> tuple[Profile | None, Registry | None, list[ProfileError]]:
    candidate = Path(args.id)
    if candidate.suffix == ".toml" and candidate.is_file():
        profile, errors = load_profile(candidate)
        return profile, None, errors
    loaded = _load(args)
    if loaded is None:
        return None, None, []
    registry, errors = loaded
    return registry.get(args.id), registry, [e for e in errors if e.file.stem == args.id]


def _identity_problems(profile: Profile, registry: Registry | None, data: bytes) -> list[str]:
    problems: list[str] = []
    one = Registry([profile]) if registry is None else registry
    for env in sample_envelopes(data):
        found = one.identify_interchange(
            env.standard, env.sender_qualifier, env.sender_id, env.receiver_qualifier, env.receiver_id
        )
        q = f"{env.sender_qualifier}:" if env.sender_qualifier else ""
        if found is None:
            problems.append(
                f"unknown partner: no profile has {env.standard.upper()} sender {q}{env.sender_id}"
            )
        elif found.id != profile.id:
            problems.append(
                f"{env.standard.upper()} sender {q}{env.sender_id} belongs to partner {found.id!r}"
            )
    return problems


def _report(translation: Translation | None, problems: list[str]) -> dict[str, Any]:
    if translation is None:
        return {"accepted": False, "standard": None, "documents": [], "acks": [], "problems": problems}
    problems = problems + [f"[{e.scope}] {e}" for e in translation.errors]
    accepted = (
        not translation.rejected
        and bool(translation.documents)
        and not any(e.scope in _REJECTING for e in translation.errors)
        and not any(p.startswith("unknown partner") or "belongs to partner" in p for p in problems)
    )
    return {
        "accepted": accepted,
        "standard": translation.standard,
        "documents": [
            {
                "document_type": d.document_type,
                "schema_version": d.schema_version,
                "transaction_set": d.transaction_set,
                "envelope": {k: getattr(d.envelope, k) for k in d.envelope.__slots__},
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
        "problems": problems,
    }


def cmd_test(args: argparse.Namespace) -> int:
    """Show what a file would become for a partner: documents, the ack we would send, every problem."""
    profile, registry, errors = _find_profile(args)
    if profile is None:
        for e in errors:
            print(e, file=sys.stderr)
        print(f"no valid profile {args.id!r}", file=sys.stderr)
        return EX_INVALID
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"{args.file}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return EX_NOINPUT
    options = profile.translator_options(now=_dt.datetime.now(_dt.UTC), control_numbers=ControlNumbers())
    problems = _identity_problems(profile, registry, data)
    translation: Translation | None
    try:
        translation = translate_with_profile(profile, data, options)
    except RemoteSyntaxError as exc:
        translation = None
        problems.append(f"[{exc.scope}] {exc}")
    report = {"partner": profile.id, "file": args.file, **_report(translation, problems)}
    if args.json:
        _print_json(report)
    else:
        verdict = "ACCEPTED" if report["accepted"] else "REJECTED"
        print(f"{verdict}: {args.file} for partner {profile.id} ({report['standard'] or 'unreadable'})")
        for number, doc in enumerate(report["documents"], start=1):
            print(f"--- document {number}: {doc['document_type']} ({doc['transaction_set']})")
            _print_json(doc["document"])
            if doc["extensions"]:
                print("extensions:")
                _print_json(doc["extensions"])
            for w in doc["warnings"]:
                print(f"warning: {w}")
        for ack in report["acks"]:
            state = "accepting" if ack["accepted"] else "rejecting"
            print(f"--- {ack['kind']} we would send ({state}):")
            print(ack["payload"])
        for p in report["problems"]:
            print(f"problem: {p}")
    return EX_OK if report["accepted"] else EX_DATAERR


def cmd_new(args: argparse.Namespace) -> int:
    """Scaffold a profile from a sample interchange."""
    try:
        data = Path(args.from_sample).read_bytes()
    except OSError as exc:
        print(f"{args.from_sample}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return EX_NOINPUT
    try:
        text = scaffold_profile(data, partner_id=args.id, name=args.name)
    except ValueError as exc:
        print(f"{args.from_sample}: {exc}", file=sys.stderr)
        return EX_DATAERR
    if args.output is None:
        sys.stdout.write(text)
        return EX_OK
    out = Path(args.output)
    if out.exists() and not args.force:
        print(f"{out} exists; use --force to overwrite", file=sys.stderr)
        return EX_INVALID
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return EX_OK


# -- parser -------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    """Add ``partners`` and its sub-commands to the main CLI.

    Args:
        subparsers: the ``argparse`` sub-parsers action of the main parser.
    """
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument(
        "--partners-dir", dest="partners_dir", help="profile folder (default: from the config)"
    )
    shared.add_argument("--config", "-c", help="config file naming the profile folder")
    parser = subparsers.add_parser("partners", help="partner profiles: list, show, validate, test, scaffold")
    sub = parser.add_subparsers(dest="partners_command", required=True)

    p = sub.add_parser("list", parents=[shared], help="list valid profiles")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", parents=[shared], help="show one profile")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "validate", parents=[shared], help="validate a profile file or folder (exit 1 if invalid)"
    )
    p.add_argument("path", nargs="?", help="file or folder (default: the profile folder)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", parents=[shared], help="print the profile JSON Schema")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser(
        "test", parents=[shared], help="show what FILE would become for partner ID (exit 65 if rejected)"
    )
    p.add_argument("id", help="partner id, or a profile .toml file")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("new", parents=[shared], help="scaffold a profile from a sample interchange")
    p.add_argument("--from-sample", required=True, metavar="FILE")
    p.add_argument("-o", "--output", metavar="PROFILE.toml")
    p.add_argument("--id", help="partner id (default: from the sender ID)")
    p.add_argument("--name", help="display name")
    p.add_argument("--force", action="store_true", help="overwrite --output")
    p.set_defaults(func=cmd_new)


def main(argv: list[str] | None = None) -> int:
    """Run ``partners`` sub-commands stand-alone (``python -m gateway.commands.partners``)."""
    parser = argparse.ArgumentParser(prog="edigate")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["cmd_list", "cmd_new", "cmd_schema", "cmd_show", "cmd_test", "cmd_validate", "main", "register"]
