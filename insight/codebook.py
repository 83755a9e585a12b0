"""Codebooks: hierarchical codes with definitions, criteria, examples and keywords, as numbered
versions in the store and as readable YAML files in ``codebooks/``."""

from __future__ import annotations

from insight.store import next_ids


def collect_imported_codes(con, study_id: int) -> int:
    """Codes used by the study's codings but in no codebook go into a codebook named after the
    study (a new version when new codes appear), so they can be refined. Returns codes added."""
    study = con.execute("SELECT name FROM studies WHERE study_id = ?", [study_id]).fetchone()[0]
    known = {r[0] for r in con.execute("SELECT DISTINCT name FROM codes").fetchall()}
    used = [r[0] for r in con.execute(
        "SELECT DISTINCT c.code FROM codings c JOIN segments s USING (segment_id) JOIN documents d USING (document_id) "
        "WHERE d.study_id = ? ORDER BY 1", [study_id]).fetchall()]
    new = [code for code in used if code not in known]
    if not new:
        return 0
    row = con.execute("SELECT codebook_id FROM codebooks WHERE name = ?", [study]).fetchone()
    if row:
        codebook_id = row[0]
        version = con.execute("SELECT max(version) FROM codebook_versions WHERE codebook_id = ?", [codebook_id]).fetchone()[0]
    else:
        (codebook_id,) = next_ids(con, "codebooks", "codebook_id")
        con.execute("INSERT INTO codebooks (codebook_id, name, study_id) VALUES (?, ?, ?)", [codebook_id, study, study_id])
        version = 0
    con.execute(
        "INSERT INTO codebook_versions (codebook_id, version, title, description, author, note) VALUES (?, ?, ?, ?, ?, ?)",
        [codebook_id, version + 1, study, "Codes that arrived with imported codings.", "insight",
         f"collected {len(new)} imported code(s)"],
    )
    if version:
        con.execute(
            "INSERT INTO codes SELECT codebook_id, ? AS version, name, parent, position, definition, include, exclude, "
            "examples, counter_examples, keywords, colour FROM codes WHERE codebook_id = ? AND version = ?",
            [version + 1, codebook_id, version],
        )
    start = con.execute("SELECT count(*) FROM codes WHERE codebook_id = ? AND version = ?", [codebook_id, version + 1]).fetchone()[0]
    for i, code in enumerate(new):
        con.execute("INSERT INTO codes (codebook_id, version, name, position) VALUES (?, ?, ?, ?)",
                    [codebook_id, version + 1, code, start + i])
    return len(new)
