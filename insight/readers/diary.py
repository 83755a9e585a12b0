"""Diary studies as JSON or JSON Lines: a list of entries, each with participant, date and text."""

from __future__ import annotations

import json
from pathlib import Path

from insight.errors import ReaderError
from insight.readers.base import IngestOptions, ParsedDocument, ParticipantRecord, ReadResult, decode, register, render_turns
from insight.readers.tabular import parse_date

_PARTICIPANT = ("participant_id", "participant", "author", "user", "diarist")
_DATE = ("entry_date", "date", "day", "created", "timestamp")
_TEXT = ("entry", "text", "body", "content", "note")


def _pick(entry: dict, named: str | None, candidates: tuple[str, ...]):
    if named:
        return named if named in entry else None
    for key in candidates:
        if key in entry:
            return key
    return None


@register
class DiaryJsonReader:
    name = "diary-json"
    suffixes = (".json", ".jsonl")

    def read(self, path: Path, data: bytes, options: IngestOptions) -> ReadResult:
        text, encoding, warning = decode(path, data)
        try:
            if path.suffix.lower() == ".jsonl":
                entries = [json.loads(line) for line in text.splitlines() if line.strip()]
            else:
                entries = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ReaderError(path, f"not valid JSON ({exc.msg}).", line=exc.lineno,
                              fix="Check the file with a JSON validator; diary files are a list of entries.") from None
        if isinstance(entries, dict):
            entries = entries.get("entries") or entries.get("diary") or []
        if not isinstance(entries, list) or not entries:
            raise ReaderError(path, "expected a list of diary entries (or {\"entries\": [...]}).",
                              fix='Each entry looks like {"participant_id": "D01", "entry_date": "2026-04-06", '
                                  '"entry": "..."}.')
        result = ReadResult(encoding=encoding, warnings=[warning] if warning else [])
        people: dict[str, ParticipantRecord] = {}
        attrs = options.attr_cols
        for number, entry in enumerate(entries, start=1):
            if not isinstance(entry, dict):
                raise ReaderError(path, f"entry {number} is not an object.", fix="Each entry is a JSON object.")
            pkey = _pick(entry, options.participant_col, _PARTICIPANT)
            dkey = _pick(entry, options.date_col, _DATE)
            tkeys = [k for k in options.text_cols if k in entry] or [k for k in (_pick(entry, None, _TEXT),) if k]
            if not pkey or not tkeys:
                raise ReaderError(path, f"entry {number} has no participant or no text "
                                  f"(keys: {', '.join(entry)}).",
                                  fix="Name the participant and text keys (--participant-col, --text-col).")
            pid = str(entry[pkey]).strip()
            record = people.setdefault(pid, ParticipantRecord(pid))
            for a in attrs:
                if a in entry and a not in record.attributes:
                    record.attributes[a] = entry[a]
            when = parse_date(path, str(entry.get(dkey) or ""), number) if dkey else None
            body, turns = render_turns([(None, str(entry[k]), None, None) for k in tkeys])
            if not turns:
                continue
            for turn in turns:
                turn.speaker = pid
            meta = {k: v for k, v in entry.items() if k not in {pkey, dkey, *tkeys} and k not in attrs}
            result.documents.append(ParsedDocument(
                title=f"{pid} · {when.isoformat() if when else f'entry {number}'}", text=body, turns=turns,
                kind=options.kind or "diary", date=when, participant=pid, speakers={pid: pid}, metadata=meta,
            ))
        result.participants = list(people.values())
        return result
