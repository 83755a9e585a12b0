"""Phone numbers in any national or international format, found with ``phonenumbers`` (Google's
libphonenumber metadata, maintained for every country) rather than a hand-written pattern.

A number written with its country code (``+1 (415) 555-0132``, ``0033 1 23 45 67 89``) is found
whatever the country. A number written the national way is read in the study's regions
(:func:`insight.config.phone_regions`, ``GB,US`` unless ``INSIGHT_PHONE_REGIONS`` says otherwise):
in the first region with its trunk prefix (``07700 900123``), in the others only when it is a
valid number grouped the way that country writes it (``415-555-0132``, ``(415) 555 0132``).
Numbers from fiction's reserved ranges (Ofcom's ``07700 900xxx``) are possible but not valid; the
first region takes them at a lower score, still above the replace threshold.

What it leaves alone: dates, times and sums of money (never a valid number with a trunk prefix),
reference and case numbers (``case 2024-118``, ``ref. 0045221908``: a reference word before them),
and (in :mod:`~pipelines.pseudonymise.structured`) a 3-3-4 number that passes the NHS check digit
unless a phone word comes before it.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher, ValidationResult

from insight.config import phone_regions
from insight.errors import InsightError
from pipelines.pseudonymise.lexicon import Mention

_RUN = re.compile(r"[+(]?\d[\d \t().\-/]*\d\)?")
_IDD = re.compile(r"^\(?(?:\+|00|011)")
_DATE_LIKE = re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{2,4}$")
_REFERENCE = re.compile(r"(?:#|\b(?:ref|refs|reference|case|claim|order|invoice|account|acct|policy|booking|ticket|"
                        r"serial|isbn|id|pin|version|batch|item|receipt|tracking)\b)\.?"
                        r"(?:\s+(?:number|no\.?|num|#))?:?\s*$",
                        re.IGNORECASE)
_PHONE_WORD = re.compile(r"\b(?:phones?|phoned|mobile|mob|cell|cellphone|landline|tel|telephone|number|no|ring|rang|"
                         r"call|called|text|texted|dial|whatsapp|contact|reach|fax|line|extension|ext|on)\b",
                         re.IGNORECASE)
_NHS_WORD = re.compile(r"\b(?:nhs|health|chi)\b", re.IGNORECASE)


def phone_word_before(text: str, pos: int) -> bool:
    """Whether a phone word ("ring", "mobile", "number"...) and no NHS word comes just before ``pos``."""
    before = text[max(0, pos - 30):pos]
    return bool(_PHONE_WORD.search(before)) and not _NHS_WORD.search(before)


def _accept(text: str, start: int, match, region: str, first: bool) -> float:
    """The score for one of ``phonenumbers``' matches, found at ``start`` in ``text``, or 0 to leave it alone."""
    raw, number = match.raw_string, match.number
    before = text[max(0, start - 30):start]
    if "\n" in raw or _DATE_LIKE.match(raw) or _REFERENCE.search(before):
        return 0.0
    valid = phonenumbers.is_valid_number(number)
    possible = phonenumbers.is_possible_number_with_reason(number) == ValidationResult.IS_POSSIBLE
    length = len(phonenumbers.national_significant_number(number))
    if _IDD.match(raw):
        return 0.95 if valid else (0.85 if possible and length >= 7 else 0.0)
    prefix = phonenumbers.PhoneMetadata.metadata_for_region(region).national_prefix
    trunk = bool(prefix) and raw.lstrip("(").startswith(prefix) and prefix != "1"
    if trunk:
        if valid:
            return 0.95
        return 0.85 if first and possible and length >= 9 else 0.0
    # no trunk prefix (North America, or a number written without its 0): a valid number, grouped
    # the way its country writes it (the matcher's strict grouping), or a bare run after a phone word
    if not valid or (first and prefix and prefix != "1"):
        return 0.0
    grouped = bool(re.search(r"\d[\s.()\-]+\d", raw))
    return 0.9 if grouped or _PHONE_WORD.search(before) else 0.0


def regions_in_use(regions: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The regions national numbers are read in (``INSIGHT_PHONE_REGIONS`` unless given), checked."""
    regions = tuple(regions or phone_regions())
    unknown = [r for r in regions if r not in phonenumbers.SUPPORTED_REGIONS]
    if unknown:
        raise InsightError(f"Unknown phone region {', '.join(unknown)} in INSIGHT_PHONE_REGIONS.",
                           hint="Use two-letter country codes, the study's own first: GB,US or IE,GB,US.")
    return regions


def find_phones(text: str, regions: tuple[str, ...] | None = None) -> list[Mention]:
    """Phone numbers in ``text`` (overlapping finds from several regions are left to the caller).

    >>> [m.text for m in find_phones("Ring 07700 900123 or +1 (415) 555-0132, not case 2024-118 at 10:30.")]
    ['07700 900123', '+1 (415) 555-0132']
    """
    regions = regions_in_use(regions)
    out: dict[tuple[int, int], Mention] = {}
    for a, b in _digit_runs(text):
        for i, region in enumerate(regions):
            leniency = Leniency.POSSIBLE if i == 0 else Leniency.STRICT_GROUPING
            for match in PhoneNumberMatcher(text[a:b], region, leniency=leniency):
                span = (match.start + a, match.end + a)
                score = _accept(text, span[0], match, region, i == 0)
                if score and (span not in out or out[span].score < score):
                    out[span] = Mention(span[0], span[1], "PHONE", match.raw_string, "phone", score)
    return sorted(out.values(), key=lambda m: m.start)


def _digit_runs(text: str) -> list[tuple[int, int]]:
    """Stretches of ``text`` with seven digits or more in one run, a character either side: the only
    places a phone number can be (the matcher then reads these, not every year, time and sum)."""
    spans: list[tuple[int, int]] = []
    for m in _RUN.finditer(text):
        if sum(c.isdigit() for c in m.group()) >= 7:
            a, b = max(0, m.start() - 1), min(len(text), m.end() + 1)
            if spans and a <= spans[-1][1]:
                a = spans.pop()[0]
            spans.append((a, b))
    return spans


def phone_key(text: str, regions: tuple[str, ...] | None = None) -> str:
    """One form for one number however it was written: E.164 (``+447700900123``) where the number
    parses in one of the regions, else its digits.

    >>> phone_key("07700 900123") == phone_key("+44 (0)7700 900 123") == "+447700900123"
    True
    >>> phone_key("(415) 555-0132") == phone_key("+1 415 555 0132")
    True
    """
    regions = regions_in_use(regions)
    raw = text.strip()
    for i, region in enumerate(regions):
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        prefix = phonenumbers.PhoneMetadata.metadata_for_region(region).national_prefix
        national_here = raw.lstrip("(").startswith(prefix or "\0") and prefix != "1"
        if _IDD.match(raw) or national_here or (i > 0 and phonenumbers.is_valid_number(number)):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return re.sub(r"\D", "", text)
