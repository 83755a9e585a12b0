"""Emails, phone numbers (:mod:`~pipelines.pseudonymise.phones`), UK postcodes, street addresses,
dates of birth and NHS numbers: the kinds with a shape a pattern or a library can find."""

from __future__ import annotations

import re

from pipelines.pseudonymise.lexicon import STREET_TYPES, Mention
from pipelines.pseudonymise.phones import find_phones, phone_word_before

# ---------------------------------------------------------------------------------------------
# Structured kinds

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b")
_SPOKEN_EMAIL = re.compile(r"\b[a-z0-9]+(?:[ \t]+dot[ \t]+[a-z0-9]+)*[ \t]+at[ \t]+[a-z0-9-]+"
                           r"(?:[ \t]+dot[ \t]+(?:com|co|uk|org|net|gov|ac|nhs|info|me|io))+\b", re.IGNORECASE)
_NHS_SHAPE = re.compile(r"\d{3}[ -]?\d{3}[ -]?\d{4}")
_NHS = re.compile(r"(?<![\w+£$€/.,-])\d{3}[ -]?\d{3}[ -]?\d{4}(?![\w/-]|[.,]\d)")
_POSTCODE = re.compile(r"\b(?:GIR[ \t]?0AA|[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[ABD-HJLNP-UW-Z]{2})\b", re.IGNORECASE)
_ADDRESS = re.compile(
    r"(?:\b(?:Flat|Apartment|Apt|Unit|Room)[ \t]+\d+[A-Za-z]?,?[ \t]+)?"
    r"(?:(?:[A-Z][\w'’]+[ \t]+){1,2}(?:House|Court|Mansions|Lodge|Building|Tower|Heights|Point|Hall|Cottages),?[ \t]+)?"
    r"\b\d{1,4}[A-Za-z]?,?[ \t]+(?:[A-Z][\w'’-]+[ \t]+){1,3}(?:" + STREET_TYPES + r")\b\.?")
_MONTHS = (r"January|February|March|April|May|June|July|August|September|October|November|December|"
           r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec")
_DATE = (r"(?:\d{4}-\d{2}-\d{2}|\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{2})"
         r"|(?:the[ \t]+)?\d{1,2}(?:st|nd|rd|th)?(?:[ \t]+of)?[ \t]+(?:" + _MONTHS + r")\.?,?[ \t]+(?:\d{4}|'\d{2})"
         r"|(?:" + _MONTHS + r")\.?[ \t]+(?:the[ \t]+)?\d{1,2}(?:st|nd|rd|th)?,?[ \t]+\d{4})")
_DOB = re.compile(r"(?:\bdate[ \t]+of[ \t]+birth|\bd\.?o\.?b\b\.?|\bborn\b(?:[ \t]+on)?|\bbirthday\b|\bbirth[ \t]+date)"
                  r"(?P<gap>[^\n;]{0,40}?)(?P<date>" + _DATE + r")(?![\w/])", re.IGNORECASE)
_DATE_CHAIN = re.compile(r"(?P<gap>[ \t]*(?:,|and|&)[^\n;.]{0,20}?)(?P<date>" + _DATE + r")(?![\w/])", re.IGNORECASE)
_DATE_AFTER_NAME = re.compile(r"[A-Z][\w'’-]+[ \t]*\((?P<date>\d{1,2}[/.]\d{1,2}[/.]\d{4}|\d{4}-\d{2}-\d{2})\)")


def nhs_valid(digits: str) -> bool:
    """The NHS number check digit (modulus 11).

    >>> nhs_valid("9434765919"), nhs_valid("9434765918")
    (True, False)
    """
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1)))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


def _nhs_context(text: str, pos: int) -> bool:
    """Whether "NHS" or "health" comes in the 40 characters before ``pos``."""
    context = text[max(0, pos - 40):pos].lower()
    return "nhs" in context or "health" in context


def _structured(text: str) -> list[Mention]:
    found: list[Mention] = []

    def add(start, end, kind, source, score):
        found.append(Mention(start, end, kind, text[start:end], source, score))

    for m in _EMAIL.finditer(text):
        add(m.start(), m.end(), "EMAIL", "email", 0.99)
    for m in _SPOKEN_EMAIL.finditer(text):
        add(m.start(), m.end(), "EMAIL", "spoken email", 0.9)
    for m in _NHS.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if not nhs_valid(digits):
            continue
        spaced = bool(re.fullmatch(r"\d{3}[ -]\d{3}[ -]\d{4}", m.group()))
        if _nhs_context(text, m.start()):
            add(m.start(), m.end(), "NHS", "nhs number", 0.98)
        elif spaced and digits[0] != "0":
            add(m.start(), m.end(), "NHS", "nhs number", 0.8)
    for m in find_phones(text):
        if _NHS_SHAPE.fullmatch(m.text) and not phone_word_before(text, m.start) and (
                nhs_valid(re.sub(r"\D", "", m.text)) or _nhs_context(text, m.start)):
            continue  # a 3-3-4 number with the NHS check digit or "NHS" before it, and no phone word: not a phone
        found.append(m)
    for m in _POSTCODE.finditer(text):
        word = m.group()
        if word.islower() or word.isupper():
            add(m.start(), m.end(), "POSTCODE", "postcode", 0.95)
    for m in _ADDRESS.finditer(text):
        end = m.end() - (1 if m.group().endswith(".") and m.group()[:-1].split()[-1] not in ("St", "Rd", "Ave") else 0)
        add(m.start(), end, "ADDRESS", "address", 0.9)
    for m in _DOB.finditer(text):
        if "." in m.group("gap").rstrip(". ") and "?" not in m.group("gap"):
            continue  # the date is in the next sentence
        add(m.start("date"), m.end("date"), "DOB", "date of birth", 0.95)
        pos = m.end("date")
        while True:
            chain = _DATE_CHAIN.match(text, pos)
            if not chain:
                break
            add(chain.start("date"), chain.end("date"), "DOB", "date of birth", 0.85)
            pos = chain.end("date")
    for m in _DATE_AFTER_NAME.finditer(text):
        add(m.start("date"), m.end("date"), "DOB", "date after a name", 0.6)
    return found
