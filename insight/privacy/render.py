"""Pseudonymisation: rebuilding stored text from the originals (``documents``, ``segments``,
``codings``, ``pii_mentions``) and replacing names in speaker labels, participant names and ids,
and titles (``pii_fields``)."""

from __future__ import annotations

import bisect

from insight.privacy.entities import _Entities
from insight.store import frames, text_hash
from pipelines.pseudonymise import STAFF, KnownNames, lexicon

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

            with frames(con, _insight_placed=pd.DataFrame(placed, columns=["mention_id", "a", "b"])):
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
                "SELECT coding_id, start, \"end\" FROM codings WHERE document_id = ?", [document_id]).fetchall():
            a, b = ahead(back(start, "start"), "start"), ahead(back(end, "end"), "end")
            self.coding_rows.append(dict(coding_id=cid, start=a, end=max(b, min(len(text), a + 1))))
        self.documents += 1

    def flush(self) -> None:
        import pandas as pd

        con = self.con
        if self.segment_rows:
            with frames(con, _insight_segs=pd.DataFrame(self.segment_rows)):
                con.execute("UPDATE segments SET start = g.start, \"end\" = g.\"end\", text = g.text, "
                            "text_hash = g.text_hash FROM _insight_segs g WHERE segments.segment_id = g.segment_id")
        if self.coding_rows:
            with frames(con, _insight_codings=pd.DataFrame(self.coding_rows)):
                con.execute("UPDATE codings SET start = g.start, \"end\" = g.\"end\" FROM _insight_codings g "
                            "WHERE codings.coding_id = g.coding_id")
        if self.old_hashes:
            # cached lemmas and vectors of the original texts go with them
            with frames(con, _insight_old=pd.DataFrame({"h": sorted(self.old_hashes)})):
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
    docs = pd.DataFrame({"d": sorted(set(document_ids or []))}, dtype="int64")
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
    with frames(con, _insight_docs=docs):
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
                with frames(con, _insight_fields=pd.DataFrame(updates, columns=["row_id", "value"])):
                    con.execute(f"UPDATE {table} SET \"{column}\" = f.value FROM _insight_fields f "
                                f"WHERE {table}.{key} = f.row_id")
            if keep:
                columns = ["table_name", "row_id", "column_name", "study_id", "original"]
                with frames(con, _insight_keep=pd.DataFrame(keep, columns=columns)):
                    con.execute("INSERT INTO pii_fields SELECT table_name, row_id, column_name, study_id, original "
                                "FROM _insight_keep")
            if drop:
                with frames(con, _insight_drop=pd.DataFrame({"row_id": drop})):
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
