"""Stable keys: a credit record is the same record however often, and from whichever file, it arrives."""

from __future__ import annotations

import hashlib
import uuid

# Fixed for the life of the warehouse: changing it would give every record a new identity.
RECORD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:creditwh:credit-record")
# The same characters the SQL normalisation trims (etl.validate.rules.TRIM).
TRIM_CHARACTERS = " \t\r\n\u00a0\u3000"


def normalise_document_number(value: str | None) -> str | None:
    if value is None:
        return None
    return value.strip(TRIM_CHARACTERS) or None


def record_uid(department_code: str, record_type_code: str, document_number: str | None) -> uuid.UUID | None:
    """uuid5 of department, record type and decision document number; None without a document number."""
    text = record_uid_text(department_code, record_type_code, document_number)
    return None if text is None else uuid.UUID(text)


def record_uid_text(department_code: str, record_type_code: str, document_number: str | None) -> str | None:
    """`record_uid` as its canonical text, computed as `uuid.uuid5` does (SHA-1 of namespace and name,
    version and variant bits set) without building a UUID object: staging writes one per row."""
    number = normalise_document_number(document_number)
    if number is None:
        return None
    digest = hashlib.sha1(_NAMESPACE_BYTES + f"{department_code}|{record_type_code}|{number}".encode(),
                          usedforsecurity=False).digest()
    value = (int.from_bytes(digest[:16]) & _CLEAR_VERSION_AND_VARIANT) | _VERSION_5_RFC_4122
    hexed = f"{value:032x}"
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


_NAMESPACE_BYTES = RECORD_NAMESPACE.bytes
_CLEAR_VERSION_AND_VARIANT = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_VERSION_5_RFC_4122 = (5 << 76) | (0x8000 << 48)
