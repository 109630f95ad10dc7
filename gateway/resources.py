"""Things a source or sink claims exclusively, so `validate` can find clashes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Resource:
    """A port (``host:port``) or a folder a component claims for itself."""

    kind: Literal["port", "dir"]
    value: str

    def conflicts(self, other: Resource) -> bool:
        """Whether two claims cannot both be honoured."""
        if self.kind != other.kind:
            return False
        if self.kind == "port":
            host_a, _, port_a = self.value.rpartition(":")
            host_b, _, port_b = other.value.rpartition(":")
            wildcard = {"", "0.0.0.0", "::", "[::]"}
            return port_a == port_b and (host_a == host_b or host_a in wildcard or host_b in wildcard)
        a = os.path.realpath(self.value)
        b = os.path.realpath(other.value)
        # A folder inside another source's folder is a clash too: one would
        # take the other's files.
        return a == b or a.startswith(b + os.sep) or b.startswith(a + os.sep)


def find_conflicts(claims: list[tuple[str, Resource]]) -> list[str]:
    """Every pair of owners claiming the same resource, in words."""
    problems: list[str] = []
    for i, (owner_a, res_a) in enumerate(claims):
        for owner_b, res_b in claims[i + 1 :]:
            if owner_a != owner_b and res_a.conflicts(res_b):
                problems.append(f"{owner_a} and {owner_b} both claim {res_a.kind} {res_a.value}")
    return problems


__all__ = ["Resource", "find_conflicts"]
