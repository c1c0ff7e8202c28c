"""The `X-Change-Note` header: a revision's note, in ASCII or as percent-encoded UTF-8.

HTTP header values are ASCII in practice: granian hands the application an empty value for one
with other bytes, and other WSGI servers hand it Latin-1 mojibake, so a note in any other script
would be stored wrong. A client sends such a note as an RFC 8187 `ext-value` instead:
`UTF-8''Ryabkov%20%E2%80%94%20note` (the language between the quotes may be empty, and is
ignored). Every note is at most `MAX_NOTE` characters once decoded, with no control characters.

The grammar below is one regular expression per form, character by character (well-formed UTF-8
as Unicode's table 3-7 has it, C0 and C1 controls and DEL left out), so the OpenAPI document
states exactly what is accepted and a decoded note is known to be valid before it is decoded.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

MAX_NOTE = 2000
_HEX = "[0-9A-Fa-f]"
_TAIL = f"%[89ABab]{_HEX}"  # a UTF-8 continuation byte
_ENCODED_CHARACTER = "|".join(
    [
        "[!#$&+.^_`|~0-9A-Za-z-]",  # RFC 8187 attr-char, as it is
        f"%[2-6]{_HEX}|%7[0-9A-Ea-e]",  # printable ASCII, escaped
        f"%[Cc]2%[AaBb]{_HEX}|%[Cc][3-9A-Fa-f]{_TAIL}|%[Dd]{_HEX}{_TAIL}",  # two bytes, C1 controls left out
        f"%[Ee]0%[AaBb]{_HEX}{_TAIL}|%[Ee][1-9A-Ca-cEeFf]{_TAIL}{_TAIL}|%[Ee][Dd]%[89]{_HEX}{_TAIL}",  # three
        f"%[Ff]0%[9ABab]{_HEX}{_TAIL}{_TAIL}|%[Ff][1-3]{_TAIL}{_TAIL}{_TAIL}|%[Ff]4%8{_HEX}{_TAIL}{_TAIL}",  # four
    ]
)
ENCODED_PREFIX = "[Uu][Tt][Ff]-8'[A-Za-z0-9-]{0,35}'"
ENCODED = f"{ENCODED_PREFIX}(?:{_ENCODED_CHARACTER}){{1,{MAX_NOTE}}}"
PLAIN = f"[!-~](?:[ -~]{{0,{MAX_NOTE - 2}}}[!-~])?"  # printable ASCII; a server trims spaces around it
# Spaces and tabs around a value are not part of it (RFC 9110 §5.5): servers drop them.
PATTERN = f"^[ \\t]*(?:{ENCODED}|{PLAIN})[ \\t]*$"

_ENCODED = re.compile(ENCODED)
_ENCODED_PREFIX = re.compile(ENCODED_PREFIX)
_PLAIN = re.compile(PLAIN)
EXAMPLE = "UTF-8''Ryabkov%20%E2%80%94%20the%20talks%20took%20place"


class NoteError(ValueError):
    """Why a header value is not a note; the message is for the client."""


def parse_note(header: str) -> str:
    """The note an `X-Change-Note` value carries; NoteError when it carries none."""
    value = header.strip(" \t")
    if _ENCODED.fullmatch(value):
        return unquote_to_bytes(value.split("'", 2)[2]).decode("utf-8")
    if _ENCODED_PREFIX.match(value):
        raise NoteError(
            f"X-Change-Note starts with UTF-8'…' but the rest is not percent-encoded UTF-8 (RFC 8187) of 1 to "
            f"{MAX_NOTE} characters without control characters."
        )
    if _PLAIN.fullmatch(value):
        return value
    if not value or not value.isascii():
        raise NoteError(
            "X-Change-Note is empty or has characters beyond ASCII (servers pass such a value on empty or "
            f"garbled). Send other text percent-encoded as UTF-8, RFC 8187 style: X-Change-Note: {EXAMPLE}"
        )
    raise NoteError(f"X-Change-Note must be at most {MAX_NOTE} printable characters.")
