"""Who a speaker label is: a participant of the study, the researcher, or a role in one document.

A name (``Gareth``, ``DAVE OKAFOR``, ``P3``) is one participant across the study; a manifest's
participants table matches it by id, full name or first name. The researcher's labels
(:data:`~insight.readers.base.STAFF`: ``Interviewer``, ``Moderator``, ``Q``) are no participant. A
generic label (:data:`~insight.readers.base.GENERIC`: ``Resident``, ``Speaker 1``, ``A``) names a
role, so two files' ``Resident`` are not one person: it is the participant the file's id names (a
``participant`` option, or a file name like ``P01_...``) when it is the document's only voice, and
otherwise a participant of its document only, ``<file stem>:<label>``. :meth:`Speakers.notes` says
which, for the ingest report.
"""

from __future__ import annotations

import re
from pathlib import Path

from insight.readers.base import GENERIC, STAFF, IngestOptions, ParsedDocument, ParticipantRecord

_FILE_ID = re.compile(r"^([A-Za-z]{1,3}\d{1,4})(?=[_\- .]|$)")  # P01_housing.txt, D4-diary.md


class Speakers:
    """The speaker labels of one file's documents as participant records, and what generic labels
    became."""

    def __init__(self, path: Path, options: IngestOptions, documents: int = 1):
        self.path = path
        self.options = options
        self.documents = documents
        self.generic: dict[tuple[str, str], list[str]] = {}  # (label, what it became) -> per-document ids

    def record(self, speaker: str, doc: ParsedDocument, non_staff: list[str]) -> ParticipantRecord | None:
        """The participant behind ``speaker`` in ``doc`` (whose participant speakers are
        ``non_staff``), or ``None`` for the researcher's turns."""
        label = speaker.strip()
        if STAFF.match(label):
            return None
        if speaker in doc.speakers:
            return ParticipantRecord(doc.speakers[speaker], speaker)
        roster = self.options.participants
        generic = bool(GENERIC.match(label))
        record = roster.get(label.lower()) or (None if generic else roster.get(label.split()[0].lower()))
        given = self.given_id()
        if record is None and given and len(non_staff) == 1:
            record = roster.get(given[0].lower()) or ParticipantRecord(given[0], None if generic else speaker)
            if generic:
                self.generic.setdefault((label, f"participant {record.external_id}, {given[1]}"), [])
        if record is None and generic:
            where = self.path.stem if self.documents <= 1 else f"{self.path.stem}/{doc.title}"
            record = ParticipantRecord(f"{where}:{label}")
            self.generic.setdefault((label, "a participant of this document only"), []).append(record.external_id)
        return record or ParticipantRecord(speaker, speaker)

    def author(self, non_staff: list[str]) -> ParticipantRecord | None:
        """The participant the ``participant`` option names for a document without participant
        speakers (a diary or notes they wrote)."""
        if non_staff or not self.options.participant:
            return None
        pid = str(self.options.participant).strip()
        return self.options.participants.get(pid.lower()) or ParticipantRecord(pid)

    def given_id(self) -> tuple[str, str] | None:
        """The participant id the file's options or name give, and where it came from."""
        if self.options.participant:
            return str(self.options.participant).strip(), "as participant: says"
        match = _FILE_ID.match(self.path.stem)
        return (match.group(1).upper(), "from the file name") if match else None

    def notes(self) -> list[str]:
        """For the ingest report: what each generic label of the file became.

        >>> from insight.readers.base import Turn
        >>> speakers = Speakers(Path("notes/estate_a.txt"), IngestOptions())
        >>> doc = ParsedDocument("estate a", "Interviewer: Hi.\\nResident: Hello.", [Turn(13, 16, "Interviewer")])
        >>> speakers.record("Resident", doc, ["Resident"]).external_id, speakers.record("Interviewer", doc, [])
        ('estate_a:Resident', None)
        >>> speakers.notes()[0][:80]
        'Resident in estate_a.txt: a participant of this document only (estate_a:Resident'
        """
        notes = []
        for (label, what), own in self.generic.items():
            note = f"{label} in {self.path.name}: {what}"
            if own:
                note += (f" ({own[0]})" if len(own) == 1 else
                         f" ({len(own)} documents, one participant each, e.g. {own[0]})")
                note += ("; it names a role, not a person. If it is someone you know, give the file their id: "
                         "a name like P01_... or participant: in ingest.yaml")
            notes.append(note + ".")
        return notes
