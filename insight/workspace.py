"""The library's entry point: one object over one database file.

>>> ws = Workspace(":memory:")
>>> ws.stats()["documents"]
0
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from insight import store
from insight.errors import NotFound
from insight.ingest import IngestReport, ingest
from insight.readers.base import IngestOptions


class Workspace:
    """A study workspace in one DuckDB file (``path``, else ``$INSIGHT_DB``, else ``./insight.duckdb``)."""

    def __init__(self, path: str | os.PathLike | None = None, *, read_only: bool = False):
        self.path = store.resolve_path(path)
        self.read_only = read_only
        self.con = store.connect(self.path, read_only=read_only)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- studies --------------------------------------------------------------------------------

    def studies(self) -> list[str]:
        return [r[0] for r in self.con.execute("SELECT name FROM studies ORDER BY study_id").fetchall()]

    def study_id(self, name: str | None) -> int | None:
        """The id of study ``name``; with ``None``, the only study (or ``None`` for all of them)."""
        if name is None:
            return None
        row = self.con.execute("SELECT study_id FROM studies WHERE name = ?", [name]).fetchone()
        if not row:
            raise NotFound("study", name, self.studies())
        return row[0]

    def default_study(self) -> str:
        names = self.studies()
        return names[0] if len(names) == 1 else "default"

    # -- verbs ----------------------------------------------------------------------------------

    def ingest(self, paths: list[str | Path], *, study: str | None = None,
               progress: Callable[[int, int, str], None] | None = None, **options) -> IngestReport:
        """Read files and folders into a study; one transaction per file.

        >>> ws = Workspace(":memory:")
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "n.txt"; _ = p.write_text("Interviewer: Hi.\\nP1: Hello.\\n")
        >>> ws.ingest([p], study="s").totals()["segments"]
        2
        """
        opts = IngestOptions(study=study or self.default_study(), **options)
        return ingest(self.con, [Path(p) for p in paths], opts, progress)

    def stats(self, study: str | None = None) -> dict:
        """Counts for one study (or all): documents, segments, participants, speakers, codes, codings."""
        from insight.stats import stats

        return stats(self.con, self.study_id(study))

    def documents(self, study: str | None = None):
        sid = self.study_id(study)
        return self.con.execute(
            "SELECT d.document_id, s.name AS study, d.kind, d.title, d.source_path, d.doc_date, p.external_id AS participant, "
            "length(d.text) AS characters, (SELECT count(*) FROM segments g WHERE g.document_id = d.document_id) AS segments "
            "FROM documents d JOIN studies s USING (study_id) LEFT JOIN participants p USING (participant_id) "
            "WHERE ? IS NULL OR d.study_id = ? ORDER BY d.document_id", [sid, sid]).df()

    def segments(self, study: str | None = None, document_id: int | None = None):
        sid = self.study_id(study)
        return self.con.execute(
            "SELECT g.segment_id, g.document_id, d.title, d.kind, g.ordinal, g.start, g.\"end\", g.speaker, "
            "p.external_id AS participant, g.field, g.start_ms, g.text FROM segments g JOIN documents d USING (document_id) "
            "LEFT JOIN participants p ON p.participant_id = g.participant_id "
            "WHERE (? IS NULL OR d.study_id = ?) AND (? IS NULL OR g.document_id = ?) ORDER BY g.document_id, g.ordinal",
            [sid, sid, document_id, document_id]).df()

    def participants(self, study: str | None = None):
        """One row per participant with a column per attribute."""
        sid = self.study_id(study)
        people = self.con.execute(
            "SELECT p.participant_id, s.name AS study, p.external_id, p.name FROM participants p JOIN studies s USING (study_id) "
            "WHERE ? IS NULL OR p.study_id = ? ORDER BY p.participant_id", [sid, sid]).df()
        attrs = self.con.execute(
            "SELECT a.participant_id, a.name, a.value FROM attributes a JOIN participants p USING (participant_id) "
            "WHERE ? IS NULL OR p.study_id = ?", [sid, sid]).df()
        if attrs.empty:
            return people
        wide = attrs.pivot(index="participant_id", columns="name", values="value").reset_index()
        return people.merge(wide, on="participant_id", how="left")

    # -- codebooks, coding and agreement (codebook.py, coding.py, reliability.py) ---------------

    # -- themes and gaps (pipelines/themes.py, insight/themes.py) --------------------------------

    # -- exports and REFI-QDA (export.py, reports.py, refi.py) -----------------------------------
