"""Hypothesis over every reader that partner or admin bytes reach.

Invariant: a result or the reader's own error, nothing else.

Short budgets here (``make test``); ``bench/fuzz.py`` runs the same targets
(:mod:`tests.reliability.fuzzlib`) for minutes with RSS tracking.
"""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import make_850
from tests.reliability.fuzzlib import Target, build_targets, mutate
from translators import TranslationError, translate

TARGETS = build_targets()
FUZZ = settings(
    max_examples=int(os.environ.get("RELIABILITY_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_seeds_satisfy_the_invariant(name: str) -> None:
    target = TARGETS[name]
    for seed in target.seeds:
        target.run(seed)


@pytest.mark.parametrize("name", sorted(TARGETS))
@FUZZ
@given(seed_index=st.integers(0, 10_000), mutation_seed=st.integers(0, 2**32 - 1))
def test_mutated_seeds(name: str, seed_index: int, mutation_seed: int) -> None:
    target: Target = TARGETS[name]
    seed = target.seeds[seed_index % len(target.seeds)]
    target.run(mutate(random.Random(mutation_seed), seed, rounds=6))


@pytest.mark.parametrize("name", sorted(TARGETS))
@FUZZ
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes(name: str, data: bytes) -> None:
    TARGETS[name].run(data)


@FUZZ
@given(
    prefix=st.sampled_from([b"ISA", b"UNA:+.? '", b"UNB+UNOC:3+", b"<?xml", b"Content-Type: "]),
    data=st.binary(max_size=400),
)
def test_standard_prefixes(prefix: bytes, data: bytes) -> None:
    for target in ("x12", "edifact", "xml", "as2", "smtp"):
        TARGETS[target].run(prefix + data)


def test_superscript_digit_in_control_number_is_a_syntax_error_not_a_crash() -> None:
    """Finding of this suite: ``'²'.isdigit()`` is True but ``int('²')`` raises (fixed: isdecimal)."""
    good = make_850(133, "PO1").decode("latin-1")
    bad = good.replace("IEA*1*000000133", "IEA*1*0000001\u00b23").encode("latin-1")
    try:
        result = translate(bad)
    except TranslationError:
        return
    assert result.rejected or result.errors, "a damaged IEA control number must be reported"
