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

import bisect
import json
import re
from collections import defaultdict
from datetime import datetime

from insight.errors import InsightError, NotFound
from insight.store import next_ids, text_hash
from pipelines.pseudonymise import (KINDS, LABELS, REPLACE, STAFF, KnownNames, Mention, detect, known_mentions,
                                    known_pattern, lexicon, ner_pipeline, resolve_overlaps)

ACTIVE = ("replaced", "accepted")
STATUSES = ("replaced", "accepted", "undone", "candidate")
_ID_LIKE = re.compile(r"^[A-Za-z]{0,5}[-_ ]?\d+[A-Za-z]?$")


class _Tx:
    def __init__(self, con, enabled: bool):
        self.con, self.enabled = con, enabled

    def __enter__(self):
        if self.enabled:
            self.con.execute("BEGIN TRANSACTION")

    def __exit__(self, kind, *_):
        if self.enabled:
            self.con.execute("ROLLBACK" if kind else "COMMIT")


def _check_kind(kind: str) -> str:
    kind = kind.upper().replace(" ", "_")
    kind = {"NHS_NUMBER": "NHS", "NAME": "PERSON", "DATE_OF_BIRTH": "DOB"}.get(kind, kind)
    if kind not in KINDS:
        raise InsightError(f"Unknown kind of personal data {kind!r}.", hint="Use one of: " + ", ".join(KINDS) + ".")
    return kind


# ---------------------------------------------------------------------------------------------
# Keys and entities


def _person_key(text: str) -> str:
    words = [w.strip(".,") for w in re.split(r"\s+", text.strip())]
    titles = lexicon()["title"]
    while len(words) > 1 and words[0].lower().rstrip(".") in titles:
        words = words[1:]
    key = " ".join(words).lower()
    return re.sub(r"['’]s$", "", key)


def entity_key(kind: str, text: str) -> str:
    """What makes two mentions the same thing: a folded name, an email, a phone's digits...

    >>> entity_key("PHONE", "+44 (0)7700 900183"), entity_key("POSTCODE", "nb4 7qt")
    ('07700900183', 'NB47QT')
    """
    if kind == "PERSON":
        return _person_key(text)
    if kind == "EMAIL":
        return re.sub(r"\s+(?:dot)\s+", ".", re.sub(r"\s+at\s+", "@", text.strip().lower()))
    if kind == "PHONE":
        digits = re.sub(r"\D", "", text.replace("(0)", ""))
        if text.strip().startswith("+44") or digits.startswith("0044"):
            digits = "0" + digits[4:] if digits.startswith("0044") else "0" + digits[2:]
        return digits
    if kind in ("POSTCODE",):
        return re.sub(r"\s+", "", text).upper()
    if kind == "NHS":
        return re.sub(r"\D", "", text)
    return " ".join(re.sub(r"[,.]", " ", text).lower().split())


class _Entities:
    """A study's entities, their labels and the forms each has been seen in.

    People are matched by their first and last names: "Margaret", "Margaret Jones" and "Mrs Jones"
    are one person when nothing else in the study shares those names (or, for a single name, when
    the person was already seen in the same document)."""

    def __init__(self, con, study_id: int):
        self.con, self.study_id = con, study_id
        self.rows: dict[int, dict] = {}
        self.alias: dict[tuple[str, str], int] = {}
        self.numbers: dict[str, int] = defaultdict(int)
        self.labels: set[str] = set()
        # active people by token: the first and last token of full names, and single names
        self.first: dict[str, set[int]] = defaultdict(set)
        self.last: dict[str, set[int]] = defaultdict(set)
        self.single: dict[str, set[int]] = defaultdict(set)
        for eid, kind, number, label, original, status in con.execute(
                "SELECT entity_id, kind, number, label, original, status FROM pii_entities WHERE study_id = ?",
                [study_id]).fetchall():
            self.rows[eid] = dict(kind=kind, number=number, label=label, original=original, status=status)
            self.alias[(kind, entity_key(kind, original))] = eid
            self.numbers[kind] = max(self.numbers[kind], number)
            self.labels.add(label)
            self._index(eid)
        for kind, original, eid in con.execute(
                "SELECT kind, original, entity_id FROM pii_mentions WHERE study_id = ? AND entity_id IS NOT NULL "
                "AND status <> 'candidate'", [study_id]).fetchall():
            self.alias.setdefault((kind, entity_key(kind, original)), eid)
        self.next_id = next_ids(con, "pii_entities", "entity_id").start
        self.new: list[int] = []

    def _tokens(self, eid: int) -> list[str]:
        return _person_key(self.rows[eid]["original"]).split()

    def _index(self, eid: int, drop: bool = False) -> None:
        row = self.rows[eid]
        if row["kind"] != "PERSON" or row["status"] != "active":
            return
        tokens = self._tokens(eid)
        if not tokens:
            return
        targets = [self.single[tokens[0]]] if len(tokens) == 1 else [self.first[tokens[0]], self.last[tokens[-1]]]
        for target in targets:
            (target.discard if drop else target.add)(eid)

    def resolve(self, kind: str, text: str, near: set[int] = frozenset(), label: str | None = None) -> int:
        """The entity for a mention, made if needed; ``near``: entities already seen in this document."""
        key = entity_key(kind, text)
        if label is not None:
            for eid, row in self.rows.items():
                if row["label"] == label:
                    if row["kind"] != kind:
                        raise InsightError(f"{label} is a {row['kind']}, not a {kind}.")
                    self.alias[(kind, key)] = eid
                    return eid
            return self._make(kind, text, key, label)
        if (kind, key) in self.alias:
            return self.alias[(kind, key)]
        if kind == "PERSON" and key:
            eid = self._person(key.split(), near)
            if eid is not None:
                if len(key.split()) > len(self._tokens(eid)):  # "Margaret" turns out to be Margaret Jones
                    self._index(eid, drop=True)
                    self.rows[eid]["original"] = text if not text.isupper() else text.title()
                    self.rows[eid]["dirty"] = True
                    self._index(eid)
                self.alias[(kind, key)] = eid
                return eid
        return self._make(kind, text, key, None)

    def _person(self, tokens: list[str], near: set[int]) -> int | None:
        head, tail = tokens[0], tokens[-1]
        if len(tokens) >= 2:
            same = self.first[head] & self.last[tail]
            if len(same) == 1:
                return next(iter(same))
            if len(self.single[head]) == 1 and not self.first[head]:
                return next(iter(self.single[head]))
            if len(self.single[tail]) == 1 and not self.last[tail]:
                return next(iter(self.single[tail]))
            return None
        matches = self.first[head] | self.last[head]
        local = matches & near
        if len(local) == 1:
            return next(iter(local))
        if len(matches) == 1 and not local:
            return next(iter(matches))
        return None

    def _make(self, kind: str, text: str, key: str, label: str | None) -> int:
        eid = self.next_id
        self.next_id += 1
        self.numbers[kind] += 1
        if label is None:
            label = f"[{LABELS[kind]} {self.numbers[kind]}]"
            while label in self.labels:
                self.numbers[kind] += 1
                label = f"[{LABELS[kind]} {self.numbers[kind]}]"
        elif label in self.labels:
            raise InsightError(f"The pseudonym {label!r} is already in use in this study.", hint="Choose another.")
        original = text if not (kind == "PERSON" and text.isupper()) else text.title()
        self.rows[eid] = dict(kind=kind, number=self.numbers[kind], label=label, original=original, status="active")
        self.alias[(kind, key)] = eid
        self.labels.add(label)
        self.new.append(eid)
        self._index(eid)
        return eid

    def flush(self) -> None:
        """Write new entities and changed originals (in two statements, however many there are)."""
        import pandas as pd

        now = datetime.now()
        new = [dict(study_id=self.study_id, entity_id=e, kind=self.rows[e]["kind"], number=self.rows[e]["number"],
                    label=self.rows[e]["label"], original=self.rows[e]["original"], status="active", created_at=now)
               for e in self.new if not self.rows[e].get("written")]
        for e in self.new:
            self.rows[e]["written"] = True
            self.rows[e].pop("dirty", None)
        if new:
            _insight_entities = pd.DataFrame(new)  # noqa: F841
            self.con.execute("INSERT INTO pii_entities (study_id, entity_id, kind, number, label, original, status, "
                             "created_at) SELECT study_id, entity_id, kind, number, label, original, status, created_at "
                             "FROM _insight_entities")
        dirty = [(eid, row["original"]) for eid, row in self.rows.items() if row.pop("dirty", False)]
        if dirty:
            _insight_dirty = pd.DataFrame(dirty, columns=["entity_id", "original"])  # noqa: F841
            self.con.execute("UPDATE pii_entities SET original = d.original FROM _insight_dirty d WHERE "
                             "pii_entities.study_id = ? AND pii_entities.entity_id = d.entity_id", [self.study_id])

    def person_forms(self) -> tuple[list[str], list[str]]:
        """Names to look for everywhere: (strong, weak). Parts of full names that are also ordinary
        words ("Grace") are weak: matched only mid-sentence."""
        lex = lexicon()
        strong, weak = set(), set()
        for (kind, key), eid in self.alias.items():
            row = self.rows.get(eid)
            if kind != "PERSON" or row is None or row["status"] != "active" or not key:
                continue
            words = key.split()
            if len(words) == 1 and (key in lex["ambiguous"] or key in lex["not"]):
                weak.add(key.title())
            else:
                strong.add(" ".join(w.title() if w.islower() else w for w in words))
            if len(words) > 1:
                for part in (words[0], words[-1]):
                    if len(part) > 2 and part not in lex["not"]:
                        (weak if part in lex["ambiguous"] else strong).add(part.title())
        return sorted(strong), sorted(weak - strong)


# ---------------------------------------------------------------------------------------------
# Offsets: original text <-> stored text


class _Map:
    """Maps positions across a set of replaced spans ``(from_start, from_end, to_start, to_end)``."""

    def __init__(self, spans: list[tuple[int, int, int, int]]):
        self.spans = sorted(spans)
        self.starts = [s[0] for s in self.spans]

    def __call__(self, pos: int, side: str) -> int:
        i = bisect.bisect_right(self.starts, pos) - 1
        if i < 0:
            return pos
        fs, fe, ts, te = self.spans[i]
        if fs < pos < fe:  # inside a replaced span: snap outwards
            return ts if side == "start" else te
        if pos == fs:
            return ts
        return pos - fe + te


def _original_text(con, document_id: int) -> str:
    row = con.execute("SELECT original FROM pii_documents WHERE document_id = ?", [document_id]).fetchone()
    if row:
        return row[0]
    return con.execute("SELECT text FROM documents WHERE document_id = ?", [document_id]).fetchone()[0]


def _applied_map(con, document_id: int) -> _Map:
    """Stored text -> original text, from where each applied pseudonym stands now."""
    rows = con.execute("SELECT applied_start, applied_end, start, \"end\" FROM pii_mentions WHERE document_id = ? "
                       "AND applied_start IS NOT NULL", [document_id]).fetchall()
    return _Map(rows)


class _Renderer:
    """Rebuilds documents from their originals and active mentions; segment and coding offsets follow."""

    def __init__(self, con, study_id: int):
        self.con, self.study_id = con, study_id
        self.segment_rows: list[dict] = []
        self.coding_rows: list[dict] = []
        self.old_hashes: set[str] = set()
        self.documents = 0

    def document(self, document_id: int) -> None:
        con = self.con
        original = _original_text(con, document_id)
        if not con.execute("SELECT count(*) FROM pii_documents WHERE document_id = ?", [document_id]).fetchone()[0]:
            con.execute("INSERT INTO pii_documents VALUES (?, ?, ?)", [document_id, self.study_id, original])
        back = _applied_map(con, document_id)
        active = con.execute(
            "SELECT m.mention_id, m.start, m.\"end\", e.label FROM pii_mentions m JOIN pii_entities e "
            "ON e.study_id = m.study_id AND e.entity_id = m.entity_id WHERE m.document_id = ? AND m.status IN "
            "('replaced', 'accepted') AND e.status = 'active' ORDER BY m.start", [document_id]).fetchall()
        pieces, spans, placed, pos, shift = [], [], [], 0, 0
        for mention_id, start, end, label in active:
            if start < pos:
                continue  # overlapping (should not happen): the earlier one wins
            pieces.append(original[pos:start])
            pieces.append(label)
            new_start = start + shift
            spans.append((start, end, new_start, new_start + len(label)))
            placed.append((mention_id, new_start, new_start + len(label)))
            shift += len(label) - (end - start)
            pos = end
        pieces.append(original[pos:])
        text = "".join(pieces)
        ahead = _Map(spans)
        con.execute("UPDATE documents SET text = ? WHERE document_id = ?", [text, document_id])
        con.execute("UPDATE pii_mentions SET applied_start = NULL, applied_end = NULL WHERE document_id = ?", [document_id])
        if placed:
            import pandas as pd

            _insight_placed = pd.DataFrame(placed, columns=["mention_id", "a", "b"])  # noqa: F841
            con.execute("UPDATE pii_mentions SET applied_start = p.a, applied_end = p.b FROM _insight_placed p "
                        "WHERE pii_mentions.mention_id = p.mention_id")
        for sid, start, end, old_hash in con.execute(
                "SELECT segment_id, start, \"end\", text_hash FROM segments WHERE document_id = ?", [document_id]).fetchall():
            a, b = ahead(back(start, "start"), "start"), ahead(back(end, "end"), "end")
            body = text[a:b]
            new_hash = text_hash(body)
            if new_hash != old_hash:
                self.old_hashes.add(old_hash)
            self.segment_rows.append(dict(segment_id=sid, start=a, end=b, text=body, text_hash=new_hash))
        for cid, start, end in con.execute(
                "SELECT c.coding_id, c.start, c.\"end\" FROM codings c JOIN segments s USING (segment_id) "
                "WHERE s.document_id = ? AND c.start IS NOT NULL", [document_id]).fetchall():
            self.coding_rows.append(dict(coding_id=cid, start=ahead(back(start, "start"), "start"),
                                         end=ahead(back(end, "end"), "end")))
        self.documents += 1

    def flush(self) -> None:
        import pandas as pd

        con = self.con
        if self.segment_rows:
            _insight_segs = pd.DataFrame(self.segment_rows)  # noqa: F841
            con.execute("UPDATE segments SET start = g.start, \"end\" = g.\"end\", text = g.text, text_hash = g.text_hash "
                        "FROM _insight_segs g WHERE segments.segment_id = g.segment_id")
        if self.coding_rows:
            _insight_codings = pd.DataFrame(self.coding_rows)  # noqa: F841
            con.execute("UPDATE codings SET start = g.start, \"end\" = g.\"end\" FROM _insight_codings g "
                        "WHERE codings.coding_id = g.coding_id")
        if self.old_hashes:
            # cached lemmas and vectors of the original texts go with them
            _insight_old = pd.DataFrame({"h": sorted(self.old_hashes)})  # noqa: F841
            for table in ("lemmas", "embeddings"):
                con.execute(f"DELETE FROM {table} WHERE text_hash IN (SELECT h FROM _insight_old) "
                            "AND text_hash NOT IN (SELECT text_hash FROM segments)")
        self.segment_rows, self.coding_rows, self.old_hashes = [], [], set()


# ---------------------------------------------------------------------------------------------
# Speaker labels, participant names and titles


def _field_replacer(entities: _Entities):
    forms: dict[str, str] = {}
    for (kind, key), eid in entities.alias.items():
        row = entities.rows.get(eid)
        if kind == "PERSON" and row and row["status"] == "active" and key and key not in lexicon()["not"]:
            forms[key] = row["label"]
    known = KnownNames(values=forms)
    if not known:
        return lambda value: value
    lower = {k.lower(): v for k, v in known.forms.items()}

    def replace(value: str) -> str:
        if not value or STAFF.match(value.strip()):
            return value
        out, pos = [], 0
        for start, end, form in known.find(value):
            out += [value[pos:start], lower[form.lower()]]
            pos = end
        return "".join(out) + value[pos:]

    return replace


def _render_fields(con, study_id: int, entities: _Entities, document_ids=None) -> int:
    """Speaker labels, participant names (and ids that are names) and document titles; of the
    study's participants and of ``document_ids`` (default: every document of the study)."""
    import pandas as pd

    replace = _field_replacer(entities)
    _insight_docs = pd.DataFrame({"d": sorted(set(document_ids or []))}, dtype="int64")  # noqa: F841
    only = "" if document_ids is None else " AND d.document_id IN (SELECT d FROM _insight_docs)"
    targets = [
        ("segments", "speaker", "segment_id",
         "SELECT s.segment_id, s.speaker FROM segments s JOIN documents d USING (document_id) "
         "WHERE d.study_id = ? AND s.speaker IS NOT NULL" + only),
        ("participants", "name", "participant_id",
         "SELECT participant_id, name FROM participants WHERE study_id = ? AND name IS NOT NULL"),
        ("participants", "external_id", "participant_id",
         "SELECT participant_id, external_id FROM participants WHERE study_id = ?"),
        ("documents", "title", "document_id", "SELECT d.document_id, d.title FROM documents d WHERE d.study_id = ?" + only),
    ]
    changed = 0
    for table, column, key, query in targets:
        current = dict(con.execute(query, [study_id]).fetchall())
        if not current:
            continue
        saved = dict(con.execute("SELECT row_id, original FROM pii_fields WHERE study_id = ? AND table_name = ? "
                                 "AND column_name = ?", [study_id, table, column]).fetchall())
        names = {}
        if table == "participants" and column == "external_id":
            names = {pid: saved_name for pid, saved_name in con.execute(
                "SELECT p.participant_id, coalesce(f.original, p.name) FROM participants p LEFT JOIN pii_fields f "
                "ON f.table_name = 'participants' AND f.column_name = 'name' AND f.row_id = p.participant_id "
                "WHERE p.study_id = ?", [study_id]).fetchall()}
        updates, keep, drop = [], [], []
        for row_id, value in current.items():
            original = saved.get(row_id, value)
            if table == "participants" and column == "external_id":
                # an id is replaced only when it is the person's name (a speaker with no roster entry)
                name = names.get(row_id)
                new = replace(original) if name and original.lower() == str(name).lower() else original
            else:
                new = replace(original)
            if new != value:
                updates.append((row_id, new))
            if new != original and row_id not in saved:
                keep.append((table, row_id, column, study_id, original))
            elif new == original and row_id in saved:
                drop.append(row_id)
        if table == "participants" and column == "external_id":
            for row_id, new in updates:
                _set_external_id(con, study_id, row_id, new)
        elif updates:
            _insight_fields = pd.DataFrame(updates, columns=["row_id", "value"])  # noqa: F841
            con.execute(f"UPDATE {table} SET \"{column}\" = f.value FROM _insight_fields f WHERE {table}.{key} = f.row_id")
        if keep:
            _insight_keep = pd.DataFrame(keep, columns=["table_name", "row_id", "column_name", "study_id", "original"])  # noqa: F841
            con.execute("INSERT INTO pii_fields SELECT table_name, row_id, column_name, study_id, original FROM _insight_keep")
        if drop:
            _insight_drop = pd.DataFrame({"row_id": drop})  # noqa: F841
            con.execute("DELETE FROM pii_fields WHERE table_name = ? AND column_name = ? AND row_id IN "
                        "(SELECT row_id FROM _insight_drop)", [table, column])
        changed += len(updates)
    return changed


def _set_external_id(con, study_id: int, participant_id: int, new: str) -> None:
    """Rename a participant's id; when another participant already has it (the same person met in
    another file), merge this one into that one."""
    other = con.execute("SELECT participant_id FROM participants WHERE study_id = ? AND external_id = ? AND "
                        "participant_id <> ?", [study_id, new, participant_id]).fetchone()
    if not other:
        con.execute("UPDATE participants SET external_id = ? WHERE participant_id = ?", [new, participant_id])
        return
    keep = other[0]
    for table in ("segments", "documents"):
        con.execute(f"UPDATE {table} SET participant_id = ? WHERE participant_id = ?", [keep, participant_id])
    con.execute("INSERT INTO attributes SELECT ?, name, type, value, value_number, value_date FROM attributes a "
                "WHERE participant_id = ? AND name NOT IN (SELECT name FROM attributes WHERE participant_id = ?)",
                [keep, participant_id, keep])
    con.execute("DELETE FROM attributes WHERE participant_id = ?", [participant_id])
    con.execute("DELETE FROM pii_fields WHERE table_name = 'participants' AND row_id = ?", [participant_id])
    con.execute("DELETE FROM participants WHERE participant_id = ?", [participant_id])


# ---------------------------------------------------------------------------------------------
# The step


def _known_names(con, study_id: int, entities: _Entities) -> tuple[list[str], list[str]]:
    strong, weak = entities.person_forms()
    lex = lexicon()
    for (name,) in con.execute(
            "SELECT DISTINCT coalesce(f.original, p.name) FROM participants p LEFT JOIN pii_fields f ON "
            "f.table_name = 'participants' AND f.column_name = 'name' AND f.row_id = p.participant_id "
            "WHERE p.study_id = ? AND p.name IS NOT NULL", [study_id]).fetchall():
        name = " ".join(str(name).split())
        if not name or _ID_LIKE.match(name) or STAFF.match(name) or name.lower() in lex["not"]:
            continue
        strong.append(name)
        parts = name.split()
        if len(parts) > 1:
            for part in (parts[0], parts[-1]):
                if len(part) > 2 and part.lower() not in lex["not"]:
                    (weak if part.lower() in lex["ambiguous"] else strong).append(part)
    return strong, weak


def _literals(con, study_id: int) -> list[tuple[str, re.Pattern]]:
    """What researchers added by hand, found again wherever it occurs."""
    out = []
    for kind, text in con.execute("SELECT DISTINCT kind, original FROM pii_mentions WHERE study_id = ? AND "
                                  "source = 'manual' AND status IN ('replaced', 'accepted')", [study_id]).fetchall():
        out.append((kind, re.compile(r"(?<!\w)" + re.escape(text) + r"(?!\w)", re.IGNORECASE)))
    return out


def _segment_bounds(con, document_id: int) -> list[int]:
    """Where segments start and end in the original text, sorted."""
    back = _applied_map(con, document_id)
    rows = con.execute("SELECT start, \"end\" FROM segments WHERE document_id = ?", [document_id]).fetchall()
    return sorted({back(a, "start") for a, _ in rows} | {back(b, "end") for _, b in rows})


def _crosses(m: Mention, bounds: list[int]) -> bool:
    """Whether a segment boundary (sorted ``bounds``) falls strictly inside the mention."""
    i = bisect.bisect_right(bounds, m.start)
    return i < len(bounds) and bounds[i] < m.end


def pseudonymise(con, study_id: int, *, document_ids: list[int] | None = None, actor: str | None = None,
                 transaction: bool = True, use_ner: bool = True, progress=None) -> dict:
    """Find personal data in a study's documents and replace it with stable pseudonyms.

    Reads ``documents``, ``segments``, ``codings``, ``participants``, ``pii_*``; writes them (see the
    module docstring). Idempotent: re-running finds nothing new in text it has seen and never
    undoes a researcher's decision. ``document_ids`` limits the search to those documents (ingest
    uses it), though a name newly found there is also replaced where it occurs in the rest of the
    study. Returns counts by kind and status, and the ``run_id``.
    """
    nlp = ner_pipeline() if use_ner else None
    with _Tx(con, transaction):
        run_id = None
        if transaction:
            (run_id,) = next_ids(con, "runs", "run_id")
            settings = {"ner": (nlp.meta.get("insight_path") if nlp is not None else None), "threshold": REPLACE,
                        "names": "insight/data word lists", "documents": document_ids}
            con.execute("INSERT INTO runs (run_id, study_id, step, settings, status) VALUES (?, ?, 'pseudonymise', ?, "
                        "'running')", [run_id, study_id, json.dumps(settings)])
        summary = _run(con, study_id, document_ids, actor, nlp, run_id, progress)
        if run_id is not None:
            con.execute("UPDATE runs SET summary = ?, status = 'done', finished_at = now() WHERE run_id = ?",
                        [json.dumps(summary), run_id])
    summary["run_id"] = run_id
    return summary


def _run(con, study_id, document_ids, actor, nlp, run_id, progress) -> dict:
    entities = _Entities(con, study_id)
    strong, weak = _known_names(con, study_id, entities)
    known, known_weak = known_pattern(strong), known_pattern(weak)
    literals = _literals(con, study_id)
    all_docs = [r[0] for r in con.execute("SELECT document_id FROM documents WHERE study_id = ? ORDER BY document_id",
                                          [study_id]).fetchall()]
    targets = sorted(set(document_ids) & set(all_docs)) if document_ids is not None else all_docs
    found: dict[int, list[Mention]] = {}
    texts: dict[int, str] = {}
    existing: dict[int, list[tuple]] = defaultdict(list)
    for doc_id, mid, start, end, status in con.execute(
            "SELECT document_id, mention_id, start, \"end\", status FROM pii_mentions WHERE study_id = ?",
            [study_id]).fetchall():
        existing[doc_id].append((mid, start, end, status))

    def scan(doc_id: int, spacy_doc) -> list[Mention]:
        text = texts.setdefault(doc_id, _original_text(con, doc_id))
        mentions = detect(text, known=known, known_weak=known_weak, doc=spacy_doc)
        for kind, rx in literals:
            mentions += [Mention(m.start(), m.end(), kind, m.group(), "manual", 0.97) for m in rx.finditer(text)]
        return mentions

    # pass 1: every target document
    docs = iter([None] * len(targets))
    if nlp is not None:
        def texts_for_nlp():
            for d in targets:
                text = texts.setdefault(d, _original_text(con, d))
                nlp.max_length = max(nlp.max_length, len(text) + 1)
                yield text
        docs = nlp.pipe(texts_for_nlp(), batch_size=16)
    for number, (doc_id, spacy_doc) in enumerate(zip(targets, docs), start=1):
        found[doc_id] = scan(doc_id, spacy_doc)
        if progress:
            progress(number, len(targets))
    # pass 2: names found for the first time are names everywhere in the study
    fresh = {m.text for ms in found.values() for m in ms if m.kind == "PERSON" and m.score >= 0.55
             and m.source not in ("known",)}
    lex = lexicon()
    fresh_strong = sorted({n for n in fresh if n.lower() not in lex["ambiguous"]})
    fresh_weak = sorted({n for n in fresh if n.lower() in lex["ambiguous"]})
    again, again_weak = known_pattern(fresh_strong), known_pattern(fresh_weak)
    if again is not None or again_weak is not None:
        others = all_docs if document_ids is not None else targets
        for doc_id in others:
            text = texts.get(doc_id)
            if text is None:
                text = _original_text(con, doc_id)
            extra = [Mention(m.start, m.end, m.kind, m.text, "same name elsewhere", 0.75)
                     for m in known_mentions(text, again, again_weak)]
            if not extra:
                continue
            texts[doc_id] = text
            found.setdefault(doc_id, []).extend(extra)
    # merge with what is stored, resolve entities, write
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    touched: set[int] = set()
    now = datetime.now()
    rows = []
    next_mention = next_ids(con, "pii_mentions", "mention_id").start
    for doc_id in sorted(found):
        mentions = resolve_overlaps(found[doc_id])
        bounds = _segment_bounds(con, doc_id)
        stored = sorted(existing.get(doc_id, []), key=lambda s: s[1])
        stored_starts = [s[1] for s in stored]
        near: set[int] = set()
        for m in mentions:
            if _crosses(m, bounds):
                continue
            # stored mentions do not overlap one another, so those overlapping m are contiguous
            i = bisect.bisect_left(stored_starts, m.start)
            while i > 0 and stored[i - 1][2] > m.start:
                i -= 1
            clash = []
            while i < len(stored) and stored[i][1] < m.end:
                if stored[i][2] > m.start:
                    clash.append(stored[i])
                i += 1
            if clash:
                # a confident find replaces an earlier candidate; a researcher's decision stays
                if m.replace and all(s[3] == "candidate" for s in clash):
                    con.execute("DELETE FROM pii_mentions WHERE mention_id IN (" + ",".join(str(s[0]) for s in clash) + ")")
                    stored = [s for s in stored if s not in clash]
                    stored_starts = [s[1] for s in stored]
                else:
                    continue
            status = "replaced" if m.replace else "candidate"
            eid = entities.resolve(m.kind, m.text, near) if m.replace else None
            if eid is not None and entities.rows[eid]["status"] != "active":
                status = "undone"  # a researcher said this one is not personal data
            if eid is not None:
                near.add(eid)
            rows.append(dict(mention_id=next_mention, study_id=study_id, document_id=doc_id, start=m.start, end=m.end,
                             original=m.text, kind=m.kind, entity_id=eid, source=m.source, score=round(m.score, 3),
                             status=status, actor=actor, changed_at=now, run_id=run_id))
            i = bisect.bisect_left(stored_starts, m.start)
            stored.insert(i, (next_mention, m.start, m.end, status))
            stored_starts.insert(i, m.start)
            next_mention += 1
            counts[m.kind][status] += 1
            if status == "replaced":
                touched.add(doc_id)
    entities.flush()
    if rows:
        import pandas as pd

        _insight_mentions = pd.DataFrame(rows)  # noqa: F841
        cols = ", ".join(f'"{c}"' for c in rows[0])
        con.execute(f"INSERT INTO pii_mentions ({cols}) SELECT {cols} FROM _insight_mentions")
    renderer = _Renderer(con, study_id)
    for doc_id in sorted(touched):
        renderer.document(doc_id)
    renderer.flush()
    fields = _render_fields(con, study_id, entities, None if document_ids is None else set(targets) | touched)
    replaced = sum(c.get("replaced", 0) for c in counts.values())
    return {"documents": len(targets), "changed_documents": len(touched), "replaced": replaced,
            "candidates": sum(c.get("candidate", 0) for c in counts.values()), "fields": fields,
            "by_kind": {k: dict(v) for k, v in sorted(counts.items())}, "new_pseudonyms": len(entities.new),
            "ner": nlp.meta.get("insight_path") if nlp is not None else None}


# ---------------------------------------------------------------------------------------------
# Review: the list, accept, undo, add, rename, reveal, reverse


def review(con, study_id: int | None = None, *, status: str | None = None, kind: str | None = None,
           label: str | None = None, limit: int | None = None):
    """Every replacement (and candidate) with its document, pseudonym, rule, score and a line of
    context from the stored text. Shows originals: researchers only."""
    if status and status not in STATUSES:
        raise InsightError(f"Unknown status {status!r}.", hint="Use one of: " + ", ".join(STATUSES) + ".")
    kind = _check_kind(kind) if kind else None
    frame = con.execute(
        "SELECT m.mention_id, m.document_id, d.title AS document, m.kind, m.original, e.label AS pseudonym, m.status, "
        "m.source, m.score, m.start, m.\"end\", m.applied_start, m.applied_end, m.actor, m.changed_at "
        "FROM pii_mentions m JOIN documents d USING (document_id) LEFT JOIN pii_entities e "
        "ON e.study_id = m.study_id AND e.entity_id = m.entity_id "
        "WHERE (? IS NULL OR m.study_id = ?) AND (? IS NULL OR m.status = ?) AND (? IS NULL OR m.kind = ?) "
        "AND (? IS NULL OR e.label = ?) ORDER BY m.document_id, m.start" + (f" LIMIT {int(limit)}" if limit else ""),
        [study_id, study_id, status, status, kind, kind, label, label]).df()
    if frame.empty:
        frame["context"] = []
        return frame.drop(columns=["applied_start", "applied_end"])
    import pandas as pd

    texts = dict(con.execute("SELECT document_id, text FROM documents WHERE document_id IN (SELECT DISTINCT document_id "
                             "FROM pii_mentions WHERE ? IS NULL OR study_id = ?)", [study_id, study_id]).fetchall())
    originals = {}

    def context(row) -> str:
        if pd.notna(row.applied_start):
            text, a, b = texts[row.document_id], int(row.applied_start), int(row.applied_end)
        else:
            if row.document_id not in originals:
                originals[row.document_id] = _original_text(con, row.document_id)
            text, a, b = originals[row.document_id], int(row.start), int(row.end)
        left = text[max(0, a - 40):a].split("\n")[-1]
        right = text[b:b + 40].split("\n")[0]
        return f"{left}«{text[a:b]}»{right}"

    frame["context"] = [context(r) for r in frame.itertuples()]
    return frame.drop(columns=["applied_start", "applied_end"])


def _mentions(con, mention_ids) -> list[tuple]:
    ids = [int(i) for i in mention_ids]
    if not ids:
        raise InsightError("No replacement named.", hint="Give the ids shown by `insight pseudonyms`.")
    rows = con.execute("SELECT mention_id, study_id, document_id, kind, original, entity_id, status FROM pii_mentions "
                       "WHERE mention_id IN (" + ",".join(map(str, ids)) + ")").fetchall()
    missing = sorted(set(ids) - {r[0] for r in rows})
    if missing:
        raise NotFound("replacement", ", ".join(map(str, missing)))
    return rows


def _rerender(con, study_id: int, document_ids) -> None:
    renderer = _Renderer(con, study_id)
    for doc_id in sorted(set(document_ids)):
        renderer.document(doc_id)
    renderer.flush()
    _render_fields(con, study_id, _Entities(con, study_id))


def accept(con, mention_ids, *, actor: str | None = None) -> int:
    """Confirm replacements; a candidate or an undone one is (re)applied. Returns how many changed."""
    rows = _mentions(con, mention_ids)
    with _Tx(con, True):
        docs = defaultdict(set)
        for mid, study_id, doc_id, kind, original, eid, status in rows:
            if eid is None:
                entities = _Entities(con, study_id)
                eid = entities.resolve(kind, original)
                entities.flush()
            con.execute("UPDATE pii_entities SET status = 'active' WHERE study_id = ? AND entity_id = ?", [study_id, eid])
            con.execute("UPDATE pii_mentions SET status = 'accepted', entity_id = ?, actor = ?, changed_at = ? "
                        "WHERE mention_id = ?", [eid, actor, datetime.now(), mid])
            if status != "replaced":
                docs[study_id].add(doc_id)
        for study_id, doc_ids in docs.items():
            _rerender(con, study_id, doc_ids)
    return len(rows)


def undo(con, mention_ids=(), *, study_id: int | None = None, label: str | None = None,
         actor: str | None = None) -> int:
    """Show the original again: for these replacements, or (``label``) for every mention of one
    pseudonym in ``study_id``, speaker labels and participant names included. Returns mentions undone."""
    with _Tx(con, True):
        if label is not None:
            row = con.execute("SELECT entity_id FROM pii_entities WHERE study_id = ? AND label = ?",
                              [study_id, label]).fetchone()
            if not row:
                raise NotFound("pseudonym", label, [r[0] for r in con.execute(
                    "SELECT label FROM pii_entities WHERE study_id = ? ORDER BY entity_id", [study_id]).fetchall()])
            con.execute("UPDATE pii_entities SET status = 'undone' WHERE study_id = ? AND entity_id = ?", [study_id, row[0]])
            rows = con.execute("SELECT mention_id, study_id, document_id FROM pii_mentions WHERE study_id = ? AND "
                               "entity_id = ?", [study_id, row[0]]).fetchall()
        else:
            rows = [(r[0], r[1], r[2]) for r in _mentions(con, mention_ids)]
        if rows:
            con.execute("UPDATE pii_mentions SET status = 'undone', actor = ?, changed_at = ? WHERE mention_id IN ("
                        + ",".join(str(r[0]) for r in rows) + ")", [actor, datetime.now()])
        by_study = defaultdict(set)
        for _, sid, doc_id in rows:
            by_study[sid].add(doc_id)
        for sid, doc_ids in by_study.items():
            _rerender(con, sid, doc_ids)
        if label is not None and not rows:
            _rerender(con, study_id, [])
    return len(rows)


def add(con, study_id: int, text: str, *, kind: str = "PERSON", label: str | None = None,
        actor: str | None = None, document_id: int | None = None) -> dict:
    """Replace something the rules missed, wherever it occurs in the study (or one document), and
    in future runs. ``label``: a pseudonym to use (an existing one joins that entity)."""
    kind = _check_kind(kind)
    text = " ".join(text.split())
    if len(text) < 2:
        raise InsightError("Say what to replace: at least two characters.")
    rx = re.compile(r"(?<!\w)" + re.escape(text).replace(r"\ ", r"\s+") + r"(?!\w)", re.IGNORECASE)
    with _Tx(con, True):
        entities = _Entities(con, study_id)
        eid = entities.resolve(kind, text, label=label)
        con.execute("UPDATE pii_entities SET status = 'active' WHERE study_id = ? AND entity_id = ?", [study_id, eid])
        entities.flush()
        docs = [document_id] if document_id is not None else [r[0] for r in con.execute(
            "SELECT document_id FROM documents WHERE study_id = ? ORDER BY document_id", [study_id]).fetchall()]
        added, changed = 0, set()
        now = datetime.now()
        for doc_id in docs:
            original = _original_text(con, doc_id)
            bounds = None
            for m in rx.finditer(original):
                if bounds is None:
                    bounds = _segment_bounds(con, doc_id)
                if _crosses(Mention(m.start(), m.end(), kind, m.group(), "manual", 1.0), bounds):
                    continue
                con.execute("DELETE FROM pii_mentions WHERE document_id = ? AND start < ? AND \"end\" > ?",
                            [doc_id, m.end(), m.start()])
                (mid,) = next_ids(con, "pii_mentions", "mention_id")
                con.execute("INSERT INTO pii_mentions (mention_id, study_id, document_id, start, \"end\", original, kind, "
                            "entity_id, source, score, status, actor, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                            "'manual', 1.0, 'accepted', ?, ?)",
                            [mid, study_id, doc_id, m.start(), m.end(), m.group(), kind, eid, actor, now])
                added += 1
                changed.add(doc_id)
        _rerender(con, study_id, changed)
    return {"pseudonym": entities.rows[eid]["label"], "replaced": added, "documents": len(changed)}


def rename(con, study_id: int, label: str, new_label: str) -> dict:
    """Use a researcher-chosen pseudonym (``"[PERSON 3]"`` -> ``"Anna"``) everywhere in the study."""
    new_label = new_label.strip()
    if not new_label:
        raise InsightError("A pseudonym cannot be empty.")
    with _Tx(con, True):
        row = con.execute("SELECT entity_id FROM pii_entities WHERE study_id = ? AND label = ?", [study_id, label]).fetchone()
        if not row:
            raise NotFound("pseudonym", label, [r[0] for r in con.execute(
                "SELECT label FROM pii_entities WHERE study_id = ? ORDER BY entity_id", [study_id]).fetchall()])
        if con.execute("SELECT count(*) FROM pii_entities WHERE study_id = ? AND label = ?", [study_id, new_label]).fetchone()[0]:
            raise InsightError(f"The pseudonym {new_label!r} is already in use in this study.", hint="Choose another.")
        con.execute("UPDATE pii_entities SET label = ? WHERE study_id = ? AND entity_id = ?", [new_label, study_id, row[0]])
        docs = [r[0] for r in con.execute("SELECT DISTINCT document_id FROM pii_mentions WHERE study_id = ? AND "
                                          "entity_id = ?", [study_id, row[0]]).fetchall()]
        _rerender(con, study_id, docs)
    return {"from": label, "to": new_label, "documents": len(docs)}


def reveal(con, study_id: int, label: str) -> dict:
    """Re-identification: the original forms behind a pseudonym. Researchers only."""
    row = con.execute("SELECT entity_id, kind, original, status FROM pii_entities WHERE study_id = ? AND label = ?",
                      [study_id, label]).fetchone()
    if not row:
        raise NotFound("pseudonym", label)
    forms = [r[0] for r in con.execute("SELECT original, count(*) FROM pii_mentions WHERE study_id = ? AND entity_id = ? "
                                       "GROUP BY original ORDER BY 2 DESC", [study_id, row[0]]).fetchall()]
    return {"pseudonym": label, "kind": row[1], "original": row[2], "forms": forms, "status": row[3]}


def reverse(con, study_id: int) -> dict:
    """Put every original back and forget the mapping for the study (researchers only)."""
    with _Tx(con, True):
        docs = [r[0] for r in con.execute("SELECT document_id FROM pii_documents WHERE study_id = ?", [study_id]).fetchall()]
        con.execute("UPDATE pii_entities SET status = 'undone' WHERE study_id = ?", [study_id])
        _rerender(con, study_id, docs)
        for table in ("pii_mentions", "pii_entities", "pii_documents", "pii_fields"):
            con.execute(f"DELETE FROM {table} WHERE study_id = ?", [study_id])
    return {"documents": len(docs)}


def summary(con, study_id: int | None = None) -> dict:
    """Counts of replacements by kind and status, and pseudonyms in use (no originals)."""
    rows = con.execute("SELECT kind, status, count(*) FROM pii_mentions WHERE ? IS NULL OR study_id = ? GROUP BY 1, 2",
                       [study_id, study_id]).fetchall()
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for kind, status, n in rows:
        out[kind][status] = n
    pseudonyms = con.execute("SELECT count(*) FROM pii_entities WHERE (? IS NULL OR study_id = ?) AND status = 'active'",
                             [study_id, study_id]).fetchone()[0]
    return {"by_kind": dict(out), "pseudonyms": pseudonyms}
