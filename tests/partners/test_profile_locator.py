"""The TOML key-line scanner that lets profile errors name a line."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from partners.locator import key_lines, line_of

TEXT = '''# comment with = and [brackets]
id = "acme"   # trailing
name = 'ACME "quoted"'
"quoted key" = 1

[identities]
x12 = [
    { qualifier = "ZZ", id = "A" },
    { qualifier = "01", id = "B" },
    # a comment between elements
]
inbox = """multi
line = not a key
"""
mail_senders = ["a@b.example", "c@d.example"]

[[documents]]
type = "850"
deviations.unit_codes = { CS = "CA" }

[[documents]]
type = "855"

[documents.deviations]
date_format = "%Y%m%d"

[layouts.orders]
format = "csv"

[[layouts.orders.records]]
name = "header"
fields = [
  { path = "order_number", column = 1 },
  { path = "lines", column = 2 },
]
'''


@pytest.fixture(scope="module")
def lines() -> dict[tuple[str | int, ...], int]:
    tomllib.loads(TEXT)  # the scanner assumes valid TOML: make sure the fixture is
    return key_lines(TEXT)


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("id",), 2),
        (("name",), 3),
        (("quoted key",), 4),
        (("identities",), 6),
        (("identities", "x12"), 7),
        (("identities", "x12", 0), 8),
        (("identities", "x12", 0, "id"), 8),
        (("identities", "x12", 1, "qualifier"), 9),
        (("identities", "x12", 1, "id"), 9),
        (("identities", "inbox"), 12),
        (("identities", "mail_senders"), 15),
        (("identities", "mail_senders", 1), 15),
        (("documents", 0), 17),
        (("documents", 0, "type"), 18),
        (("documents", 0, "deviations", "unit_codes", "CS"), 19),
        (("documents", 1, "type"), 22),
        (("documents", 1, "deviations"), 24),
        (("documents", 1, "deviations", "date_format"), 25),
        (("layouts", "orders", "format"), 28),
        (("layouts", "orders", "records", 0, "name"), 31),
        (("layouts", "orders", "records", 0, "fields", 1, "column"), 34),
    ],
)
def test_every_key_has_its_line(
    lines: dict[tuple[str | int, ...], int], path: tuple[str | int, ...], line: int
) -> None:
    assert lines[path] == line


def test_text_inside_multiline_strings_is_not_a_key(lines: dict[tuple[str | int, ...], int]) -> None:
    assert ("identities", "line") not in lines
    assert ("line",) not in lines


def test_line_of_falls_back_to_the_nearest_known_parent(lines: dict[tuple[str | int, ...], int]) -> None:
    # a missing field reports the table it is missing from
    assert line_of(lines, ("documents", 1, "direction")) == 21
    # pydantic's union tags (not keys of the file) are skipped
    assert line_of(lines, ("layouts", "orders", "csv", "records", 0, "fields", 0, "path")) == 33
    assert line_of(lines, ("nothing", "here")) is None


def _paths(data: object, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out: list[tuple[str | int, ...]] = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += _paths(value, (*prefix, index))
    return out


REPO = Path(__file__).resolve().parents[2]
PROFILE_FILES = sorted((REPO / "partners" / "examples").glob("*.toml")) + sorted(
    (REPO / "tests" / "partners" / "data" / "flat").glob("*.toml")
)


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: p.name)
def test_every_parsed_key_of_real_profiles_is_located(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = key_lines(text)
    source = text.splitlines()
    for key_path in _paths(tomllib.loads(text)):
        assert key_path in lines, key_path
        last = key_path[-1]
        if isinstance(last, str):
            # the line found really mentions the key (as a key, a table header or a dotted part)
            assert last in source[lines[key_path] - 1], (key_path, lines[key_path])
