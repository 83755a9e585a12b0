"""Read-only views of a workspace as DataFrames: documents, segments, participants, codings, runs,
codebook versions. Every function takes a connection and a study id (``None``: every study).

Reads ``studies``, ``documents``, ``segments``, ``participants``, ``attributes``, ``codings``,
``codebooks``, ``codebook_versions``, ``codes`` and ``runs``; writes nothing.
"""

from __future__ import annotations

from insight.errors import NotFound


def records(frame) -> list[dict]:
    """DataFrame rows as plain JSON-ready dicts (missing values as None)."""
    import json

    return json.loads(frame.to_json(orient="records", date_format="iso", force_ascii=False))


def documents(con, study_id: int | None):
    return con.execute(
        "SELECT d.document_id, s.name AS study, d.kind, d.title, d.source_path, d.doc_date, p.external_id AS participant, "
        "length(d.text) AS characters, (SELECT count(*) FROM segments g WHERE g.document_id = d.document_id) AS segments "
        "FROM documents d JOIN studies s USING (study_id) LEFT JOIN participants p USING (participant_id) "
        "WHERE ? IS NULL OR d.study_id = ? ORDER BY d.document_id", [study_id, study_id]).df()


def segments(con, study_id: int | None, document_id: int | None = None):
    return con.execute(
        "SELECT g.segment_id, g.document_id, d.title, d.kind, g.ordinal, g.start, g.\"end\", g.speaker, "
        "p.external_id AS participant, g.field, g.start_ms, g.text FROM segments g JOIN documents d USING (document_id) "
        "LEFT JOIN participants p ON p.participant_id = g.participant_id "
        "WHERE (? IS NULL OR d.study_id = ?) AND (? IS NULL OR g.document_id = ?) ORDER BY g.document_id, g.ordinal",
        [study_id, study_id, document_id, document_id]).df()


def participants(con, study_id: int | None):
    """One row per participant with a column per attribute."""
    people = con.execute(
        "SELECT p.participant_id, s.name AS study, p.external_id, p.name FROM participants p JOIN studies s USING (study_id) "
        "WHERE ? IS NULL OR p.study_id = ? ORDER BY p.participant_id", [study_id, study_id]).df()
    attrs = con.execute(
        "SELECT a.participant_id, a.name, a.value FROM attributes a JOIN participants p USING (participant_id) "
        "WHERE ? IS NULL OR p.study_id = ?", [study_id, study_id]).df()
    if attrs.empty:
        return people
    wide = attrs.pivot(index="participant_id", columns="name", values="value").reset_index()
    return people.merge(wide, on="participant_id", how="left")


def search(con, query: str, study_id: int | None, limit: int = 200):
    """Segments whose text contains ``query`` (case-insensitive), with document and speaker."""
    return con.execute(
        "SELECT g.segment_id, d.document_id, d.title AS document, d.kind, g.speaker, g.text FROM segments g "
        "JOIN documents d USING (document_id) WHERE (? IS NULL OR d.study_id = ?) AND g.text ILIKE ? "
        "ORDER BY g.segment_id LIMIT ?", [study_id, study_id, f"%{query}%", limit]).df()


def codings(con, study_id: int | None, *, coder: str | None = None, document_id: int | None = None,
            status: str | None = None):
    """Codings with the passage each one coded (``text``) and the first segment it touches, oldest
    first."""
    return con.execute(
        "SELECT c.coding_id, (SELECT min(g.segment_id) FROM segments g WHERE g.document_id = c.document_id "
        "AND g.start < c.\"end\" AND g.\"end\" > c.start) AS segment_id, c.document_id, c.code, c.coder, c.method, "
        "c.status, c.score, c.explanation, c.memo, c.codebook_version, c.start, c.\"end\", c.created_at, "
        "substring(d.text, c.start + 1, c.\"end\" - c.start) AS text FROM codings c JOIN documents d USING (document_id) "
        "WHERE (? IS NULL OR d.study_id = ?) AND (? IS NULL OR c.coder = ?) AND (? IS NULL OR c.document_id = ?) "
        "AND (? IS NULL OR c.status = ?) ORDER BY c.coding_id",
        [study_id, study_id, coder, coder, document_id, document_id, status, status]).df()


def code_counts(con, study_id: int | None):
    """Codings (passages) per code, coder and status, with the number of distinct segments they touch."""
    return con.execute(
        "SELECT c.code, c.coder, c.status, count(DISTINCT c.coding_id) AS codings, "
        "count(DISTINCT g.segment_id) AS segments FROM codings c JOIN documents d USING (document_id) "
        "LEFT JOIN segments g ON g.document_id = c.document_id AND g.start < c.\"end\" AND g.\"end\" > c.start "
        "WHERE ? IS NULL OR d.study_id = ? GROUP BY ALL ORDER BY codings DESC", [study_id, study_id]).df()


def document(con, document_id: int) -> dict:
    """A document's id, title, kind and text, and its segments in order."""
    row = con.execute("SELECT document_id, title, kind, text FROM documents WHERE document_id = ?",
                      [document_id]).fetchone()
    if row is None:
        raise NotFound("document", str(document_id))
    segments = con.execute("SELECT segment_id, ordinal, start, \"end\", speaker, field, start_ms FROM segments "
                           "WHERE document_id = ? ORDER BY ordinal", [document_id]).df()
    return {"document_id": row[0], "title": row[1], "kind": row[2], "text": row[3], "segments": segments}


def segment_context(con, segment_id: int, around: int = 1):
    """A segment with ``around`` segments either side in its document (column ``is_target``)."""
    return con.execute(
        "SELECT g.segment_id, g.document_id, d.title AS document, g.ordinal, g.speaker, g.start_ms, g.text, "
        "g.segment_id = t.segment_id AS is_target FROM segments t JOIN segments g ON g.document_id = t.document_id "
        "AND g.ordinal BETWEEN t.ordinal - ? AND t.ordinal + ? JOIN documents d ON d.document_id = g.document_id "
        "WHERE t.segment_id = ? ORDER BY g.ordinal", [around, around, segment_id]).df()


def runs(con, study_id: int | None, *, step: str | None = None, limit: int = 20):
    """The latest pipeline runs, newest first, with their settings and summary as JSON text."""
    return con.execute(
        "SELECT run_id, study_id, step, status, started_at, finished_at, settings, summary FROM runs "
        "WHERE (? IS NULL OR step = ?) AND (? IS NULL OR study_id IS NULL OR study_id = ?) "
        "ORDER BY run_id DESC LIMIT ?", [step, step, study_id, study_id, limit]).df()


def codebook_versions(con, name: str):
    """Every version of codebook ``name``: version, title, author, note, time, number of codes."""
    return con.execute(
        "SELECT v.version, v.title, v.author, v.note, v.created_at, (SELECT count(*) FROM codes c WHERE "
        "c.codebook_id = v.codebook_id AND c.version = v.version) AS codes FROM codebook_versions v "
        "JOIN codebooks b USING (codebook_id) WHERE b.name = ? ORDER BY v.version DESC", [name]).df()
