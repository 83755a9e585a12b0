"""Pseudonymisation in the store: stable pseudonyms across a study, originals kept apart, a review
list, and undo.

The step :func:`pseudonymise` reads ``documents``, ``segments``, ``participants`` and the
``pii_*`` tables and writes them back: each document's text is rebuilt from its original with every
active mention replaced by its entity's label (``[PERSON 3]``, ``[EMAIL 1]``, or one a researcher
chose), segment offsets, coding spans and ``text_hash`` follow, and speaker labels, participant
names and document titles that hold a name are replaced too. What was replaced is kept apart:

- ``pii_documents``: each pseudonymised document's original text;
- ``pii_mentions``: every mention (original span and text, kind, rule, score, status, and where its
  pseudonym stands now); status is ``replaced`` (found, not yet reviewed), ``accepted``,
  ``undone`` (the original is shown) or ``candidate`` (a possible name, not replaced);
- ``pii_entities``: the mapping, one row per person, email, phone... with its label;
- ``pii_fields``: original speaker labels, participant names and ids, and titles.

Detection always runs on the original text, so a re-run never replaces a pseudonym again, and a
researcher's decisions (undone, accepted, added) survive it. Only a researcher may call
:func:`review`, :func:`reveal` or :func:`reverse`: they show the originals (see
:mod:`insight.access`). Exports and the app show pseudonymised text because it is what is stored.

>>> from insight import Workspace
>>> ws = Workspace(":memory:")
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
>>> _ = p.write_text("Interviewer: Hi Margaret.\\nP1: My son Daniel rang me on 07700 900 183.\\n")
>>> _ = ws.ingest([p], study="s")
>>> pseudonymise(ws.con, ws.study_id("s"))["replaced"]
3
>>> ws.segments("s").text.tolist()
['Hi [PERSON 1].', 'My son [PERSON 2] rang me on [PHONE 1].']
"""

from __future__ import annotations

from insight.privacy.entities import ACTIVE, STATUSES, entity_key
from insight.privacy.review import accept, add, rename, reveal, reverse, review, summary, undo
from insight.privacy.step import pseudonymise

__all__ = ["ACTIVE", "STATUSES", "accept", "add", "entity_key", "pseudonymise", "rename", "reveal", "reverse",
           "review", "summary", "undo"]
