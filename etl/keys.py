"""Stable keys: a credit record is the same record however often, and from whichever file, it arrives."""

from __future__ import annotations

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
    number = normalise_document_number(document_number)
    if number is None:
        return None
    return uuid.uuid5(RECORD_NAMESPACE, f"{department_code}|{record_type_code}|{number}")
