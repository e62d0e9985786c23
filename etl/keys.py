"""Stable keys: a credit record is the same record however often, and from whichever file, it arrives.

A decision is known by its department, its record type and its document number as a person reads it: the
same number typed with full-width digits (县林罚〔２０２６〕Ｅ７０１号), with other brackets (县林罚[2026]E701号,
【】, （）, ﹝﹞), with spaces, or with lower-case letters is the same decision. `normalise_document_number`
writes it one way, and `dw.canonical_document_number` (warehouse_sql/022) the same way in SQL: the record's
identity and the number the warehouse keeps are that form.
"""

from __future__ import annotations

import functools
import hashlib
import uuid

# Fixed for the life of the warehouse: changing it would give every record a new identity.
RECORD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:creditwh:credit-record")

FULLWIDTH = "".join(chr(c) for c in range(0xFF01, 0xFF5F))
HALFWIDTH = "".join(chr(c) for c in range(0x21, 0x7F))
# Removed wherever they stand (the ideographic space too): a document number has no spaces in it, whatever
# a keyboard added.
SPACES = " \t\r\n\x0b\x0c\u00a0\u3000\u200b\ufeff"
# Brackets departments type around the year (after full-width forms became half-width).
OPENING = "([{【〔﹝〖"
CLOSING = ")]}】〕﹞〗"
# GB/T 9704-2012《党政机关公文格式》7.2.3: the year of a 发文字号 is put in 六角括号 〔〕.
DEFAULT_BRACKETS = "〔〕"
_HALFWIDTH = str.maketrans(FULLWIDTH, HALFWIDTH)
_UPPER_WITHOUT_SPACES = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", SPACES)


@functools.cache
def _canonical_table(brackets: str) -> dict[int, int | None]:
    """The three steps of `normalise_document_number` (half-width; upper case without spaces; brackets) as one
    translation table: one pass over the number instead of three, and built once per bracket pair, not per row
    (staging computes a record id for every row it reads)."""
    bracket_table = str.maketrans(OPENING + CLOSING, brackets[0] * len(OPENING) + brackets[1] * len(CLOSING))
    table: dict[int, int | None] = {}
    for char in {*_HALFWIDTH, *_UPPER_WITHOUT_SPACES, *bracket_table}:
        mapped = chr(char).translate(_HALFWIDTH).translate(_UPPER_WITHOUT_SPACES).translate(bracket_table)
        table[char] = ord(mapped) if mapped else None
    return table


def normalise_document_number(value: str | None, brackets: str = DEFAULT_BRACKETS) -> str | None:
    """The number as the warehouse keeps it: half-width, no spaces, upper-case letters, every bracket pair
    written as `brackets` (the record type's; None when nothing is left."""
    if value is None:
        return None
    return value.translate(_canonical_table(brackets)) or None


def record_uid(department_code: str, record_type_code: str, document_number: str | None,
               brackets: str = DEFAULT_BRACKETS) -> uuid.UUID | None:
    """uuid5 of department, record type and decision document number; None without a document number."""
    text = record_uid_text(department_code, record_type_code, document_number, brackets)
    return None if text is None else uuid.UUID(text)


def record_uid_text(department_code: str, record_type_code: str, document_number: str | None,
                    brackets: str = DEFAULT_BRACKETS) -> str | None:
    """`record_uid` as its canonical text, computed as `uuid.uuid5` does (SHA-1 of namespace and name,
    version and variant bits set) without building a UUID object: staging writes one per row."""
    number = normalise_document_number(document_number, brackets)
    if number is None:
        return None
    hexed = hashlib.sha1(_NAMESPACE_BYTES + f"{department_code}|{record_type_code}|{number}".encode(),
                         usedforsecurity=False).hexdigest()
    # RFC 4122 4.3: the first 16 bytes of the SHA-1, version 5 in the high nibble of byte 6, variant 10 in the high
    # bits of byte 8 (so its hex digit is 8, 9, a or b).
    variant = _VARIANT_DIGIT[int(hexed[16], 16)]
    return f"{hexed[:8]}-{hexed[8:12]}-5{hexed[13:16]}-{variant}{hexed[17:20]}-{hexed[20:32]}"


_NAMESPACE_BYTES = RECORD_NAMESPACE.bytes
_VARIANT_DIGIT = "89ab" * 4
