"""Counts that describe a study at a glance."""

from __future__ import annotations


def stats(con, study_id: int | None) -> dict:
    """Counts for study ``study_id`` (``None``: every study)."""
    where = "WHERE (? IS NULL OR d.study_id = ?)"
    args = [study_id, study_id]

    def one(sql: str, params=args) -> int:
        return int(con.execute(sql, params).fetchone()[0] or 0)

    out = {
        "studies": one("SELECT count(*) FROM studies WHERE ? IS NULL OR study_id = ?"),
        "documents": one(f"SELECT count(*) FROM documents d {where}"),
        "segments": one(f"SELECT count(*) FROM segments JOIN documents d USING (document_id) {where}"),
        "participants": one("SELECT count(*) FROM participants WHERE ? IS NULL OR study_id = ?"),
        "speakers": one(f"SELECT count(DISTINCT speaker) FROM segments JOIN documents d USING (document_id) {where}"),
        "words": one(f"SELECT sum(len(string_split(trim(segments.text), ' '))) FROM segments JOIN documents d USING (document_id) {where}"),
    }
    out["documents_by_kind"] = dict(con.execute(
        f"SELECT kind, count(*) FROM documents d {where} GROUP BY kind ORDER BY kind", args).fetchall())
    # codes: the codes of the latest version of every codebook tied to the study (or to none)
    out["codes"] = one(
        "SELECT count(DISTINCT c.name) FROM codes c JOIN (SELECT codebook_id, max(version) AS version FROM codebook_versions "
        "GROUP BY codebook_id) v USING (codebook_id, version) JOIN codebooks b USING (codebook_id) "
        "WHERE ? IS NULL OR b.study_id IS NULL OR b.study_id = ?")
    out["codings"] = dict(con.execute(
        "SELECT c.coder, count(*) FROM codings c JOIN documents d USING (document_id) "
        f"{where} AND c.status <> 'rejected' GROUP BY c.coder ORDER BY c.coder", args).fetchall())
    return out
