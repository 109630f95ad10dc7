"""Character repertoires named by the UNB syntax identifier (S001 0001).

ISO 9735 (and the service code list for 0001) ties each syntax level to a
coded character set: UNOA/UNOB are subsets of ISO 646, UNOC..UNOK are the
ISO 8859 parts, UNOW/UNOY are ISO 10646 (UTF-8).  The reader decodes with the
codec named here and, for the ISO 646 subsets, also checks the repertoire,
because ASCII decoding alone would accept lowercase letters in UNOA and
characters such as ``#`` or ``@`` that level A and B exclude.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Charset:
    """One syntax level: the Python codec and, for UNOA/UNOB, the repertoire.

    Attributes:
        syntax_id: ``UNOA`` ...
        codec: Python codec name used to decode the bytes.
        repertoire: every allowed graphic character (None: the whole codec),
            to which the interchange's own service characters are added.
    """

    syntax_id: str
    codec: str
    repertoire: str | None = None

    def bad_character_pattern(self, service_chars: str) -> re.Pattern[bytes] | None:
        """A bytes pattern matching one character outside the repertoire.

        Args:
            service_chars: the interchange's delimiters (always allowed, even
                when UNA picks characters outside the level, e.g. ``~``).

        Returns:
            The compiled pattern, or None when the codec is the repertoire.
        """
        if self.repertoire is None:
            return None
        allowed = set(self.repertoire + service_chars + "\r\n")
        body = "".join(re.escape(c) for c in sorted(allowed))
        return re.compile(f"[^{body}]".encode("latin-1"))


# ISO 9735 level A: upper case letters, digits, space and . , - ( ) / = plus
# the separators ' + : ? and ! " % & * ; < > (the ISO 646 IRV positions that
# are not national variants).  Level B adds lower case letters and the
# information separators IS1-IS4 used as default delimiters.
_LEVEL_A = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-()/='+:?!\"%&*;<>"
_LEVEL_B = _LEVEL_A + "abcdefghijklmnopqrstuvwxyz\x1c\x1d\x1e\x1f"

CHARSETS: dict[str, Charset] = {
    "UNOA": Charset("UNOA", "ascii", _LEVEL_A),
    "UNOB": Charset("UNOB", "ascii", _LEVEL_B),
    "UNOC": Charset("UNOC", "iso8859-1"),
    "UNOD": Charset("UNOD", "iso8859-2"),
    "UNOE": Charset("UNOE", "iso8859-5"),
    "UNOF": Charset("UNOF", "iso8859-7"),
    "UNOG": Charset("UNOG", "iso8859-3"),
    "UNOH": Charset("UNOH", "iso8859-4"),
    "UNOI": Charset("UNOI", "iso8859-6"),
    "UNOJ": Charset("UNOJ", "iso8859-8"),
    "UNOK": Charset("UNOK", "iso8859-9"),
    "UNOW": Charset("UNOW", "utf-8"),
    "UNOY": Charset("UNOY", "utf-8"),
}


def lenient_decode(raw: bytes) -> str:
    """Decode bytes that failed the declared codec: UTF-8 if valid, else Latin-1.

    Mislabelled files in the wild (a UNOA header over UTF-8 text) are
    usually UTF-8; Latin-1 never fails and keeps one character per byte.

    Args:
        raw: the bytes of one segment.

    Returns:
        The best-effort text.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


__all__ = ["CHARSETS", "Charset", "lenient_decode"]
