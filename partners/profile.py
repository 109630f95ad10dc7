"""A loaded partner profile: the validated schema plus where it came from.

:class:`Profile` is what the gateway handles at run time.  It is immutable
and answers the questions the pipeline asks (routing, duplicate policy,
translator options, layouts) without exposing TOML details.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from translators import ControlNumbers, TranslatorOptions
from translators.flatfile import FlatLayout
from translators.xml import XmlLayout

from .schema import DocumentSpec, PartnerProfile

DuplicatePolicy = Literal["reject", "suppress", "quarantine", "accept"]


@dataclass(frozen=True, slots=True, eq=False)  # identity: the model holds lists, so no value hash
class Profile:
    """One trading partner, as loaded from ``source_path``.

    Attributes:
        model: the validated profile.
        source_path: the TOML file it was read from.
        digest: sha256 of the file's bytes (tells a real change from a touch).
    """

    model: PartnerProfile
    source_path: Path
    digest: str = ""
    #: what translator_options takes from the model, worked out once (it is asked per message)
    _options: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_options", _static_options(self.model))

    @property
    def id(self) -> str:
        """Stable partner id."""
        return self.model.id

    @property
    def name(self) -> str:
        """Display name."""
        return self.model.name

    @property
    def sinks(self) -> tuple[str, ...]:
        """Names of the gateway sinks this partner's documents go to; empty = the default sinks."""
        return tuple(self.model.routing.sinks)

    @property
    def duplicate_policy(self) -> DuplicatePolicy:
        """What the pipeline does with a duplicate interchange."""
        return self.model.duplicates.policy

    @property
    def duplicate_window_days(self) -> int:
        """How far back the duplicate check looks."""
        return self.model.duplicates.window_days

    @property
    def expect_ack_within_hours(self) -> int | None:
        """Deadline for the partner's acknowledgment of what we send; None = expect none."""
        return self.model.acks.expect_ack_within_hours

    def documents(
        self, *, direction: Literal["inbound", "outbound"] | None = None
    ) -> tuple[DocumentSpec, ...]:
        """Return the documents exchanged, optionally only one direction."""
        return tuple(d for d in self.model.documents if direction is None or d.direction == direction)

    def resolve_path(self, path: str) -> Path:
        """Resolve a path written in the profile against the profile's folder."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.source_path.parent / candidate

    def layout(self, name: str) -> FlatLayout | XmlLayout:
        """Return the built layout named ``name``.

        Raises:
            KeyError: no such layout in the profile.
        """
        return self.model.layouts[name].build()

    def layouts_for(
        self,
        standard: Literal["csv", "fixed", "xml"],
        *,
        direction: Literal["inbound", "outbound"] = "inbound",
    ) -> tuple[FlatLayout | XmlLayout, ...]:
        """Return the layouts of the declared documents of one standard and direction, in profile order."""
        names: list[str] = []
        for doc in self.documents(direction=direction):
            if doc.standard == standard and doc.layout is not None and doc.layout not in names:
                names.append(doc.layout)
        return tuple(self.layout(name) for name in names)

    def translator_options(self, *, now: _dt.datetime, control_numbers: ControlNumbers) -> TranslatorOptions:
        """Build the translator options for one translation with this partner.

        Args:
            now: timestamp for generated envelopes (the caller owns the clock).
            control_numbers: numbers for the acknowledgment or outbound
                interchange, taken from the journal's counters.

        Returns:
            Options carrying this partner's ack policy, strictness, limits,
            map deviations (keyed by map name) and our identity.
        """
        return TranslatorOptions(now=now, control_numbers=control_numbers, **self._options)


def _static_options(model: PartnerProfile) -> dict[str, Any]:
    """The TranslatorOptions fields a profile fixes: all but the clock and the control numbers."""
    map_options: dict[str, dict[str, object]] = {}
    for doc in model.documents:
        if doc.standard not in ("x12", "edifact"):
            continue
        options = doc.deviations.as_map_options()
        if options:
            map_options.setdefault(doc.map_name, {}).update(options)
    our_ids: tuple[str, str] | None = None
    if model.our_ids.x12 is not None:
        our_ids = (model.our_ids.x12.qualifier, model.our_ids.x12.id)
    elif model.our_ids.edifact is not None:
        our_ids = (model.our_ids.edifact.qualifier or "", model.our_ids.edifact.id)
    return {
        "strict": model.translation.strict,
        "max_interchange_bytes": model.translation.max_interchange_bytes,
        "x12_ack": model.acks.x12_kind,
        "functional_ack": model.acks.functional_ack,
        "ta1": model.acks.ta1,
        "lenient_charset": model.translation.lenient_charset,
        "map_business": model.translation.map_business,
        "reject_unmapped": model.translation.reject_unmapped,
        "map_options": map_options,
        "our_ids": our_ids,
    }


__all__ = ["DuplicatePolicy", "Profile"]
