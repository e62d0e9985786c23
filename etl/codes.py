"""Chinese identifier codes: normalise and validate them (masking personal ones: etl.personal).

Two kinds of code identify the subjects of credit records:

* the Unified Social Credit Code (统一社会信用代码, USCC) of an organisation, GB 32100-2015, which
  embeds a GB 11714 organisation code with its own check character;
* the citizen identity number (公民身份号码), GB 11643-1999.

Every function here has a twin in ``warehouse_sql/002_code_functions.sql`` that must give exactly the
same answer, so that a row judged valid while loading is judged valid by SQL in the warehouse. That is
why everything is spelt out with explicit character sets and translate tables rather than
``str.upper()``, ``str.strip()`` or ``str.isdigit()``, whose Unicode-wide behaviour PostgreSQL does not
share. Change one side only together with the other (the integration tests compare them).
"""

from __future__ import annotations

import datetime

from etl.config import CHINA

__all__ = [
    "USCC_ALPHABET",
    "WHITESPACE",
    "classify_code",
    "id_check_char",
    "is_valid_id_number",
    "is_valid_uscc",
    "normalize_code",
    "org_code_check_char",
    "uscc_check_char",
]

# Stripped from both ends by normalize_code (and by btrim in SQL). Deliberately not str.strip()'s
# Unicode-wide set: other spaces (U+2003, U+200B, U+FEFF ...) are left alone so the data shows them.
WHITESPACE = " \t\n\r\x0b\x0c\xa0"

DIGITS = "0123456789"
ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ASCII_LOWER = "abcdefghijklmnopqrstuvwxyz"

# Full-width forms U+FF01..U+FF5E are the ASCII characters U+0021..U+007E shifted; Chinese input
# methods produce them easily ('９１４４…'). U+3000 is the ideographic space.
_FULLWIDTH_TABLE = {0xFF01 + i: 0x21 + i for i in range(0x7E - 0x21 + 1)} | {0x3000: 0x20}
_ASCII_UPPER_TABLE = str.maketrans(ASCII_LOWER, ASCII_UPPER)

# GB 32100-2015: 31 characters, without I, O, S, V, Z (easily confused). Value = index.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# Registration authority (登记管理部门): 1 organs, 5 civil affairs, 9 industry & commerce, Y others,
# plus 2 3 4 6 7 8 A N used by the other authorities.
_USCC_AUTHORITIES = frozenset("123456789ANY")

# GB 11714 organisation code: digits keep their value, letters A..Z are 10..35.
_ORG_VALUE = {c: i for i, c in enumerate(DIGITS + ASCII_UPPER)}
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

# GB 11643-1999 identity number.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
# Province-level division codes (GB/T 2260), incl. 71 Taiwan, 81 Hong Kong, 82 Macao, 83 for the
# residence permits of Taiwan residents.
ID_PROVINCES = frozenset(
    {
        "11", "12", "13", "14", "15",
        "21", "22", "23",
        "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46",
        "50", "51", "52", "53", "54",
        "61", "62", "63", "64", "65",
        "71", "81", "82", "83",
    }
)  # fmt: skip
_ID_MIN_BIRTH_YEAR = 1900


def halfwidth(s: str) -> str:
    """Full-width ASCII and the ideographic space as ASCII (the twin of SQL dw.halfwidth)."""
    return s.translate(_FULLWIDTH_TABLE)


def normalize_code(s: str | None) -> str | None:
    """Undo the harmless ways a code gets typed differently: full-width forms, padding, lower case.

    Full-width ASCII and the ideographic space become ASCII, WHITESPACE is stripped from both ends and
    ASCII a-z upper-cased. Nothing else is "fixed" (no O->0, no inner spaces removed): a code that is
    wrong in any other way should stay visibly wrong.
    """
    if s is None:
        return None
    return s.translate(_FULLWIDTH_TABLE).strip(WHITESPACE).translate(_ASCII_UPPER_TABLE)


def org_code_check_char(first8: str) -> str:
    """GB 11714 check character for the 8-character organisation code body (also embedded in a USCC)."""
    if not isinstance(first8, str) or len(first8) != 8 or any(c not in _ORG_VALUE for c in first8):
        raise ValueError(f"an organisation code body is 8 characters 0-9 / A-Z, got {first8!r}")
    check = 11 - sum(w * _ORG_VALUE[c] for w, c in zip(_ORG_WEIGHTS, first8, strict=True)) % 11
    if check == 10:
        return "X"
    if check == 11:
        return "0"
    return str(check)


def uscc_check_char(first17: str) -> str:
    """GB 32100-2015 check character (18th) for the first 17 characters of a USCC."""
    if not isinstance(first17, str) or len(first17) != 17 or any(c not in _USCC_VALUE for c in first17):
        raise ValueError(f"a USCC body is 17 characters from {USCC_ALPHABET}, got {first17!r}")
    total = sum(w * _USCC_VALUE[c] for w, c in zip(_USCC_WEIGHTS, first17, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(s: str) -> bool:
    """Strict GB 32100-2015 check of ``s`` exactly as given; normalise first (lower case is invalid).

    Beyond the final check character this also verifies the embedded organisation code's own check
    character, which catches codes built by hand with a recomputed final character.
    """
    if not isinstance(s, str) or len(s) != 18:
        return False
    if any(c not in _USCC_VALUE for c in s):
        return False
    if s[0] not in _USCC_AUTHORITIES:
        return False
    if any(c not in DIGITS for c in s[2:8]):  # administrative division code
        return False
    org_body = s[8:16]  # every USCC_ALPHABET character is also a valid organisation-code character
    if org_code_check_char(org_body) != s[16]:
        return False
    return uscc_check_char(s[:17]) == s[17]


def id_check_char(first17: str) -> str:
    """GB 11643-1999 check character (digit or 'X') for the first 17 digits of an identity number."""
    if not isinstance(first17, str) or len(first17) != 17 or any(c not in DIGITS for c in first17):
        raise ValueError(f"an identity number body is 17 digits 0-9, got {first17!r}")
    total = sum(w * int(c) for w, c in zip(_ID_WEIGHTS, first17, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def _today_in_china() -> datetime.date:
    """Today's date in China, which decides whether a birth date lies in the future."""
    return datetime.datetime.now(CHINA).date()


def _days_in_month(year: int, month: int) -> int:
    """Proleptic Gregorian month length, spelt out so the SQL twin can do the same without a cast."""
    if month == 2:
        return 29 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 28
    return 30 if month in (4, 6, 9, 11) else 31


def is_valid_id_number(s: str, as_of: datetime.date | None = None) -> bool:
    """Strict GB 11643-1999 check of ``s`` exactly as given; normalise first (lower-case 'x' is invalid).

    Checks the province code, that the birth date (chars 7-14) is a real date from 1900 up to ``as_of``
    (default: today in Asia/Shanghai) and the check character. ``as_of`` is a parameter so that loads
    and tests are reproducible.
    """
    if not isinstance(s, str) or len(s) != 18:
        return False
    if any(c not in DIGITS for c in s[:17]) or s[17] not in DIGITS + "X":
        return False
    if s[:2] not in ID_PROVINCES:
        return False
    year, month, day = int(s[6:10]), int(s[10:12]), int(s[12:14])
    if year < _ID_MIN_BIRTH_YEAR or not 1 <= month <= 12 or not 1 <= day <= _days_in_month(year, month):
        return False
    if as_of is None:
        as_of = _today_in_china()
    elif isinstance(as_of, datetime.datetime):  # a datetime is a date, but cannot be compared with one
        as_of = as_of.date()
    if datetime.date(year, month, day) > as_of:
        return False
    return id_check_char(s[:17]) == s[17]


def classify_code(s: str | None) -> str:
    """Tell which kind of subject code ``s`` is after normalisation: 'uscc', 'id_number' or 'unknown'.

    Roughly 1 in 330 valid identity numbers (all digits) also happens to pass the USCC check; such a code
    is reported as 'id_number', the kind that is personal data and must be masked, so that ambiguity
    never leaks a person's number as if it were a company's.
    """
    if not isinstance(s, str):
        return "unknown"
    code = normalize_code(s) or ""
    if is_valid_id_number(code):
        return "id_number"
    if is_valid_uscc(code):
        return "uscc"
    return "unknown"
