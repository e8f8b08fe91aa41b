"""The one key validator used by every entry point."""

from __future__ import annotations

import re
import unicodedata

from memstore.exceptions import InvalidKeyError

__all__ = ["MAX_KEY_LENGTH", "top_prefix", "validate_key"]

MAX_KEY_LENGTH = 1024
"""The longest key accepted, in characters (S3 allows 1024 bytes of UTF-8)."""

# C0 and C1 control characters, DEL, lone surrogates (which cannot be encoded), and the
# invisible format characters that make one key look like another: zero-width spaces and
# joiners, bidirectional overrides and isolates, line/paragraph separators, the BOM.
_BAD_CHAR = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
# Every format character (soft hyphen, Arabic letter mark, Mongolian vowel separator,
# interlinear annotations, the tag block ...) and the line/paragraph separators.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Zl", "Zp"})
_BAD_SEGMENT = re.compile(r"(?:^|/)\.\.?(?:/|$)")


def validate_key(key: object, what: str = "key") -> str:
    """Return ``key`` if it is a valid storage key, else raise.

    A valid key is a non-empty ``str`` of at most :data:`MAX_KEY_LENGTH` characters,
    with no NUL, control characters, lone surrogates or invisible format characters
    (every character of Unicode category Cf: zero-width spaces, bidirectional
    overrides, soft hyphens, tag characters ...), and no ``.`` or ``..`` path
    segment (so ``a/./b`` and ``../x`` are refused while ``a.txt`` and ``.hidden`` are
    fine). Slashes separate "folders" but are otherwise ordinary characters.

    Args:
        key: The value to check.
        what: How the value is called in error messages (``"key"``, ``"source"`` ...).

    Returns:
        The key itself.

    Raises:
        TypeError: If ``key`` is not a ``str``.
        InvalidKeyError: If it is a ``str`` that is not a valid key (a ``ValueError``).
    """
    if (
        type(key) is str
        and key.isascii()
        and key.isprintable()  # printable ASCII: no control character, no surrogate
        and 0 < len(key) <= MAX_KEY_LENGTH
        # A "." or ".." segment starts the key or follows a "/": keys with neither
        # ("data/report.csv") skip the regular expression (0.15 us of a 1 us fast path).
        and ((key[0] != "." and "/." not in key) or _BAD_SEGMENT.search(key) is None)
    ):
        return key
    if type(key) is not str:
        if isinstance(key, str):  # a str subclass: normalise to a plain str of the same value
            return validate_key(str.__str__(key), what)  # str(key) may differ (str enums)
        raise TypeError(f"{what} must be a str, not {type(key).__name__} ({key!r:.60})")
    if not key:
        raise InvalidKeyError(key, f"{what} must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKeyError(key, f"{what} is {len(key)} characters long; the maximum is {MAX_KEY_LENGTH}")
    bad = _BAD_CHAR.search(key)
    if bad is not None:
        char = bad.group()
        if "\ud800" <= char <= "\udfff":
            kind = "lone surrogate"
        elif char >= "\u200b":
            kind = "invisible format character"
        else:
            kind = "control character"
        raise InvalidKeyError(key, f"{what} contains the {kind} {bad.group()!r} at position {bad.start()}")
    for position, char in enumerate(key):
        if char > "\x7f" and unicodedata.category(char) in _INVISIBLE_CATEGORIES:
            raise InvalidKeyError(
                key,
                f"{what} contains the invisible format character {char!r} "
                f"(U+{ord(char):04X}) at position {position}",
            )
    if "." in key and _BAD_SEGMENT.search(key) is not None:
        raise InvalidKeyError(key, f"{what} must not contain '.' or '..' path segments")
    return key


def top_prefix(key: str) -> str:
    """The top-level "folder" of ``key``: ``"a/"`` for ``"a/b/c"``, ``""`` for ``"c"``."""
    i = key.find("/")
    return key[: i + 1] if i >= 0 else ""
