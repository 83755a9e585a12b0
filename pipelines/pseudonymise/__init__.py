"""Finding personal data in text: people's names, emails, phone numbers, UK postcodes, street
addresses, dates of birth and NHS numbers.

:func:`detect` reads one text and returns :class:`Mention` spans with a kind, the rule that found
them and a score. It never touches the database; :mod:`insight.privacy` turns mentions into stable
pseudonyms across a study, rewrites the stored text and keeps the originals apart.

Names come from, strongest first: names the study already knows (participants, earlier finds,
researcher additions), a trained spaCy NER when one is installed (``INSIGHT_SPACY_MODEL`` or
``en_core_web_*``), and rules: titles (``Mrs Jones`` keeps ``Mrs``), cue phrases (``my name is``,
``called``, ``my daughter``, ``our German neighbour,``, ``the guy from the council,``), greetings
(``Hi Dave``), what follows (``... said``, ``..., she said``, ``... is my sister``), speaker labels
(``[00:12:03] Xiadani Ruiz:``, Teams' ``Name   0:03``), a name spelled out after it, names joined to
a name, and the given names and surnames shipped in ``insight/data``. A name found once with
confidence is looked for again in the whole text (and, by :mod:`insight.privacy`, the whole study).
A capitalised word that no rule vouches for is a *candidate*: listed for review, not replaced.
``score >= REPLACE`` means "replace". Phone numbers come from :mod:`~pipelines.pseudonymise.phones`
(the ``phonenumbers`` library).

>>> [(m.kind, m.text) for m in detect("Ring Mrs Jones on 07700 900 183 or jo@example.org.")]
[('PERSON', 'Jones'), ('PHONE', '07700 900 183'), ('EMAIL', 'jo@example.org')]
"""

from __future__ import annotations

from pipelines.pseudonymise.detect import (KnownNames, detect, known_mentions, known_pattern, name_forms,
                                          ner_pipeline, resolve_overlaps)
from pipelines.pseudonymise.lexicon import DATA, KINDS, LABELS, REPLACE, STAFF, Mention, common_word, lexicon
from pipelines.pseudonymise.phones import find_phones, phone_key, regions_in_use
from pipelines.pseudonymise.structured import nhs_valid

__all__ = ["DATA", "KINDS", "LABELS", "REPLACE", "STAFF", "KnownNames", "Mention", "common_word", "detect",
           "known_mentions", "known_pattern", "lexicon", "name_forms", "ner_pipeline", "nhs_valid", "find_phones",
           "phone_key", "regions_in_use", "resolve_overlaps"]
