"""Find the line of a key in a TOML file.

``tomllib`` gives values but no positions, and pydantic reports a problem as
a ``loc`` path (``("documents", 1, "version")``).  To tell an admin *where*
the problem is, this module scans the TOML text once and records the line of
every key, table header, array-of-tables entry and array element, keyed by
the same kind of path.  It understands just enough TOML to do that
(strings of all four kinds, comments, inline tables, multi-line arrays,
dotted and quoted keys); the text has already been parsed by ``tomllib``, so
it never has to diagnose syntax errors itself.
"""

from __future__ import annotations

from collections.abc import Sequence

PathKey = tuple[str | int, ...]

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[PathKey, int] = {}
        self.aot: dict[PathKey, int] = {}

    # -- low-level helpers -------------------------------------------------
    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def advance(self, n: int = 1) -> None:
        chunk = self.text[self.pos : self.pos + n]
        self.line += chunk.count("\n")
        self.pos += n

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_blank(self, *, newlines: bool) -> None:
        while not self.at_end():
            ch = self.peek()
            if ch in " \t\r" or (newlines and ch == "\n"):
                self.advance()
            elif ch == "#":
                while not self.at_end() and self.peek() != "\n":
                    self.advance()
            else:
                return

    def skip_line(self) -> None:
        while not self.at_end() and self.peek() != "\n":
            self.advance()

    def record(self, path: PathKey, line: int) -> None:
        self.lines.setdefault(path, line)

    # -- strings and keys ----------------------------------------------------
    def read_string(self) -> str:
        if self.peek(3) in ('"""', "'''"):
            quote = self.peek(3)
            self.advance(3)
            start = self.pos
            while not self.at_end() and self.peek(3) != quote:
                self.advance(2 if quote == '"""' and self.peek() == "\\" else 1)
            value = self.text[start : self.pos]
            self.advance(3)
            while self.peek() == quote[0]:  # up to two quotes may close the string
                self.advance()
            return value
        quote = self.peek()
        self.advance()
        out: list[str] = []
        while not self.at_end() and self.peek() != quote and self.peek() != "\n":
            if quote == '"' and self.peek() == "\\":
                out.append(self.peek(2))
                self.advance(2)
                continue
            out.append(self.peek())
            self.advance()
        self.advance()
        return "".join(out)

    def read_key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self.skip_blank(newlines=False)
            if self.peek() in ('"', "'"):
                parts.append(self.read_string())
            else:
                start = self.pos
                while not self.at_end() and self.peek() in _BARE:
                    self.advance()
                parts.append(self.text[start : self.pos])
            self.skip_blank(newlines=False)
            if self.peek() != ".":
                return parts
            self.advance()

    # -- values --------------------------------------------------------------
    def read_value(self, path: PathKey) -> None:
        self.skip_blank(newlines=False)
        ch = self.peek()
        if ch == "{":
            self.advance()
            self.read_inline_table(path)
        elif ch == "[":
            self.advance()
            self.read_array(path)
        elif ch in ('"', "'"):
            self.read_string()
        else:
            while not self.at_end() and self.peek() not in ",]}\n#":
                self.advance()

    def read_inline_table(self, path: PathKey) -> None:
        while not self.at_end():
            self.skip_blank(newlines=True)
            if self.peek() == "}":
                self.advance()
                return
            if self.peek() == ",":
                self.advance()
                continue
            line = self.line
            keys = self.read_key()
            full = self.key_path(path, keys, line)
            self.skip_blank(newlines=False)
            if self.peek() == "=":
                self.advance()
            self.read_value(full)

    def read_array(self, path: PathKey) -> None:
        index = 0
        while not self.at_end():
            self.skip_blank(newlines=True)
            ch = self.peek()
            if ch == "]":
                self.advance()
                return
            if ch == ",":
                self.advance()
                index += 1
                continue
            self.record((*path, index), self.line)
            self.read_value((*path, index))

    def key_path(self, base: PathKey, keys: Sequence[str], line: int) -> PathKey:
        path = base
        for key in keys:
            path = (*path, key)
            self.record(path, line)
        return path

    # -- tables and top level -------------------------------------------------
    def resolve(self, keys: Sequence[str]) -> PathKey:
        path: PathKey = ()
        for key in keys:
            path = (*path, key)
            if path in self.aot:  # a table inside an array of tables: its last entry
                path = (*path, self.aot[path])
        return path

    def header(self, line: int) -> PathKey:
        array = self.peek(2) == "[["
        self.advance(2 if array else 1)
        keys = self.read_key()
        self.advance(2 if array else 1)
        if not array:
            path = self.resolve(keys)
            for i in range(1, len(path) + 1):
                self.record(path[:i], line)
            return path
        parent = self.resolve(keys[:-1])
        table = (*parent, keys[-1])
        self.aot[table] = self.aot.get(table, -1) + 1
        path = (*table, self.aot[table])
        for i in range(1, len(path) + 1):
            self.record(path[:i], line)
        return path

    def scan(self) -> dict[PathKey, int]:
        table: PathKey = ()
        while not self.at_end():
            self.skip_blank(newlines=True)
            if self.at_end():
                break
            line = self.line
            if self.peek() == "[":
                table = self.header(line)
                self.skip_line()
                continue
            keys = self.read_key()
            if not keys or keys == [""]:
                self.skip_line()  # not a key: tomllib accepted the file, so be forgiving
                continue
            full = self.key_path(table, keys, line)
            self.skip_blank(newlines=False)
            if self.peek() == "=":
                self.advance()
                self.read_value(full)
            self.skip_line()
        return self.lines


def key_lines(text: str) -> dict[PathKey, int]:
    """Map every key path of a TOML document to the 1-based line it is defined on.

    Args:
        text: the TOML text (already known to parse).

    Returns:
        ``{("documents", 0, "version"): 12, ...}``; arrays and arrays of
        tables are indexed from 0 like the parsed data.
    """
    return _Scanner(text).scan()


def line_of(lines: dict[PathKey, int], loc: Sequence[str | int]) -> int | None:
    """Return the line of the most specific known prefix of a pydantic ``loc``.

    Parts of ``loc`` that are not keys in the file (pydantic adds union tags
    and validator names) are skipped, so a missing field reports the line of
    the table it is missing from.

    Args:
        lines: the result of :func:`key_lines`.
        loc: a pydantic error location.

    Returns:
        The 1-based line, or None when not even the first key is in the file.
    """
    path: PathKey = ()
    best: int | None = None
    for part in loc:
        candidate = (*path, part)
        if candidate in lines:
            path = candidate
            best = lines[path]
    return best


__all__ = ["PathKey", "key_lines", "line_of"]
