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
               progress: Callable[[int, int, str], None] | None = None, **options):
        """Read files and folders into a study; one transaction per file.

        >>> ws = Workspace(":memory:")
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "n.txt"; _ = p.write_text("Interviewer: Hi.\\nP1: Hello.\\n")
        >>> ws.ingest([p], study="s").totals()["segments"]
        2
        """
        from insight.ingest import ingest
        from insight.readers.base import IngestOptions

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

    def load_codebook(self, path: str | Path, *, author: str | None = None, note: str | None = None,
                      study: str | None = None) -> dict:
        """Load a YAML (or .qdc) codebook file; a change makes a new numbered version. A code the
        new version renames (same definition or examples under a new name, see
        :func:`insight.codebook.diff`) takes its codings along, as a rename in the app does."""
        from insight import codebook as cb

        book = cb.read_file(path)
        version, created = cb.save(self.con, book, author=author or _user(), note=note, source=str(path),
                                   study_id=self.study_id(study) if study else None)
        renamed = []
        if created and version > 1:
            changes = cb.diff(cb.get(self.con, f"{book.name}@{version - 1}"), cb.get(self.con, f"{book.name}@{version}"))
            for pair in changes["renamed"]:
                moved = self._relabel(pair["from"], pair["to"], author or _user())
                renamed.append({**pair, "codings": moved["moved"] + moved["removed"]})
        return {"codebook": book.name, "version": version, "created": created, "codes": len(book.codes),
                "renamed": renamed}

    def codebook(self, ref: str | None = None):
        """A stored codebook version (``'name@3'``; default: the latest of the only codebook)."""
        from insight import codebook as cb

        return cb.get(self.con, ref or self._default_codebook())

    def codebooks(self):
        from insight import codebook as cb

        return cb.list_codebooks(self.con)

    def save_codebook(self, book, *, author: str | None = None, note: str | None = None) -> int:
        """Store an edited codebook as a new version; returns the version number."""
        from insight import codebook as cb

        version, _ = cb.save(self.con, book, author=author or _user(), note=note)
        return version

    def diff_codebooks(self, ref_a: str, ref_b: str) -> dict:
        from insight import codebook as cb

        return cb.diff(cb.get(self.con, ref_a), cb.get(self.con, ref_b))

    def _default_codebook(self) -> str:
        from insight.errors import InsightError

        names = [r[0] for r in self.con.execute(
            "SELECT b.name FROM codebooks b WHERE b.name NOT IN (SELECT name FROM studies) ORDER BY codebook_id").fetchall()]
        if not names:
            names = [r[0] for r in self.con.execute("SELECT name FROM codebooks ORDER BY codebook_id").fetchall()]
        if not names:
            raise InsightError("There is no codebook yet.", hint="Load one: insight codebook load codebooks/FILE.yaml")
        return names[0]

    def embed(self, *, study: str | None = None, model: str | None = None, progress=None) -> dict:
        """Embed every segment not yet cached for the model (each text once, across studies)."""
        from insight.embeddings import embed_segments
        from pipelines.embed import get_embedder

        return embed_segments(self.con, study_id=self.study_id(study), embedder=get_embedder(model), progress=progress)

    def code(self, *, study: str | None = None, codebook: str | None = None, methods=("rules", "semantic"),
             train_coder: str | None = None, model: str | None = None, progress=None) -> dict:
        """Run auto-coders; they write suggestions, never touching human codings."""
        from insight.coding import run_autocoders
        from pipelines.embed import get_embedder

        embedder = get_embedder(model) if ("semantic" in methods or "classifier" in methods) else None
        return run_autocoders(self.con, self.study_id(study), self.codebook(codebook), methods=methods,
                              train_coder=train_coder, embedder=embedder, progress=progress)

    def test_codebook(self, *, study: str | None = None, codebook: str | None = None, gold: str | None = None,
                      cv: int = 5, min_f1: float = 0.5, methods=("rules", "semantic"), model: str | None = None) -> dict:
        """Test a codebook like code: examples, counter-examples and (with a gold coder) F1 per code."""
        from insight.codetest import test_codebook
        from pipelines.embed import get_embedder

        return test_codebook(self.con, self.study_id(study), self.codebook(codebook), gold=gold, cv=cv, min_f1=min_f1,
                             methods=methods, embedder=get_embedder(model))

    def agreement(self, coder_a: str, coder_b: str, *, study: str | None = None, all_units: bool = False,
                  bootstrap: int = 1000) -> dict:
        """Kappa, alpha, percent agreement and P/R/F1 (B against A) per code and overall."""
        from insight.reliability import agreement

        return agreement(self.con, coder_a, coder_b, study_id=self.study_id(study), all_units=all_units,
                         bootstrap=bootstrap)

    def coders(self, study: str | None = None) -> list[str]:
        from insight.reliability import coders

        return coders(self.con, self.study_id(study))

    def code_segment(self, segment_id: int, code: str, coder: str, **span) -> int:
        from insight.coding import code_segment

        return code_segment(self.con, segment_id, code, coder, **span)

    def uncode_segment(self, segment_id: int, code: str, coder: str) -> int:
        from insight.coding import uncode_segment

        return uncode_segment(self.con, segment_id, code, coder)

    def accept(self, coding_id: int, coder: str) -> int:
        from insight.coding import accept

        return accept(self.con, coding_id, coder)

    def reject(self, coding_id: int, coder: str) -> None:
        from insight.coding import reject

        reject(self.con, coding_id, coder)

    def review_queue(self, *, study: str | None = None, coder: str = "auto:best", limit: int = 50):
        from insight.coding import review_queue

        return review_queue(self.con, self.study_id(study), coder=coder, limit=limit)

    def history(self, *, study: str | None = None, limit: int = 200):
        from insight.coding import history

        return history(self.con, study_id=self.study_id(study), limit=limit)

    def undo(self, actor: str | None = None) -> dict:
        from insight.coding import undo

        return undo(self.con, actor)

    def add_memo(self, text: str, *, author: str, target_kind: str = "study", target_id=None,
                 study: str | None = None, title: str | None = None) -> int:
        """A note on a segment, code, document, participant or the study."""
        from insight.coding import add_memo

        return add_memo(self.con, text, author=author, target_kind=target_kind, target_id=target_id,
                        study_id=self.study_id(study), title=title)

    def memos(self, *, study: str | None = None, target_kind: str | None = None, target_id=None):
        from insight.coding import memos

        return memos(self.con, study_id=self.study_id(study), target_kind=target_kind,
                     target_id=None if target_id is None else str(target_id))

    def search(self, query: str, *, study: str | None = None, limit: int = 200):
        """Segments whose text contains ``query`` (case-insensitive), with document and speaker."""
        sid = self.study_id(study)
        return self.con.execute(
            "SELECT g.segment_id, d.document_id, d.title AS document, d.kind, g.speaker, g.text FROM segments g "
            "JOIN documents d USING (document_id) WHERE (? IS NULL OR d.study_id = ?) AND g.text ILIKE ? "
            "ORDER BY g.segment_id LIMIT ?", [sid, sid, f"%{query}%", limit]).df()

    def codings(self, *, study: str | None = None, coder: str | None = None, document_id: int | None = None,
                status: str | None = None):
        """Codings with their segment text, newest last."""
        sid = self.study_id(study)
        return self.con.execute(
            "SELECT c.coding_id, c.segment_id, g.document_id, c.code, c.coder, c.method, c.status, c.score, "
            "c.explanation, c.codebook_version, c.start, c.\"end\", c.created_at, g.text FROM codings c "
            "JOIN segments g USING (segment_id) JOIN documents d USING (document_id) "
            "WHERE (? IS NULL OR d.study_id = ?) AND (? IS NULL OR c.coder = ?) AND (? IS NULL OR g.document_id = ?) "
            "AND (? IS NULL OR c.status = ?) ORDER BY c.coding_id",
            [sid, sid, coder, coder, document_id, document_id, status, status]).df()

    # -- privacy (privacy.py) ----------------------------------------------------------------------

    def pseudonymise(self, *, study: str | None = None, actor: str | None = None, use_ner: bool = True) -> dict:
        """Replace personal data in a study with stable pseudonyms; originals are kept apart."""
        from insight.privacy import pseudonymise

        return pseudonymise(self.con, self.study_id(study or self.default_study()), actor=actor or _user(),
                            use_ner=use_ner)

    def pseudonyms(self, *, study: str | None = None, status: str | None = None, kind: str | None = None):
        """The review list: every replacement with its original (researchers only)."""
        from insight.privacy import review

        return review(self.con, self.study_id(study), status=status, kind=kind)

    def backup(self, out: str | Path) -> dict:
        """A consistent copy of this workspace's database, checked row for row."""
        from insight.backup import backup

        return backup(out, con=self.con)

    # -- app helpers (app.py, pages/) -------------------------------------------------------------

    def edit_code(self, name: str, *, codebook: str | None = None, author: str | None = None,
                  note: str | None = None, **fields) -> int:
        """Change fields of one code and save a new codebook version; returns the version.

        ``new_name`` renames the code (its children and its codings follow), ``parent`` moves it;
        the other fields are those of :class:`insight.codebook.Code`. The result is validated like
        a YAML file.

        >>> ws = Workspace(":memory:")
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "b.yaml"; _ = p.write_text("name: b\\ncodes:\\n  - name: Damp\\n")
        >>> ws.load_codebook(p)["version"], ws.edit_code("Damp", definition="Damp or mould at home.")
        (1, 2)
        """
        from dataclasses import replace

        book = self.codebook(codebook)
        old = book.code(name)
        new_name = (fields.pop("new_name", None) or name).strip()
        if "parent" in fields and not fields["parent"]:
            fields["parent"] = None
        self._check_code_fields(book, fields)
        if new_name != name and new_name in book.names():
            from insight.errors import CodebookError

            raise CodebookError(book.ref, f"there is already a code named {new_name!r}",
                                fix="Choose another name, or merge the two codes.")
        if fields.get("parent"):
            book.code(fields["parent"])
            if fields["parent"] == name or self._is_ancestor(book, name, fields["parent"]):
                from insight.errors import CodebookError

                raise CodebookError(book.ref, f"{name!r} cannot move under {fields['parent']!r}, which is inside it",
                                    fix="Choose a parent outside this code's branch.")
        edited = replace(old, name=new_name, **fields)
        codes = [edited if c.name == name else (replace(c, parent=new_name) if c.parent == name else c)
                 for c in book.codes]
        change = f"renamed {name} to {new_name}" if new_name != name else f"edited {name}"
        version = self._save_edit(book, codes, author, note or change)
        self._relabel(name, new_name, author)
        return version

    def add_code(self, name: str, *, parent: str | None = None, codebook: str | None = None,
                 author: str | None = None, note: str | None = None, **fields) -> int:
        """Add a code (under ``parent``) and save a new codebook version; returns the version."""
        from insight.codebook import Code
        from insight.errors import CodebookError

        book = self.codebook(codebook)
        name = (name or "").strip()
        if not name:
            raise CodebookError(book.ref, "a new code needs a name", fix="Type a name for it.")
        if name in book.names():
            raise CodebookError(book.ref, f"there is already a code named {name!r}", fix="Choose another name.")
        if parent:
            book.code(parent)
        self._check_code_fields(book, fields)
        return self._save_edit(book, book.codes + [Code(name=name, parent=parent or None, **fields)], author,
                               note or f"added {name}")

    def delete_code(self, name: str, *, codebook: str | None = None, author: str | None = None,
                    note: str | None = None) -> int:
        """Remove a code from a new codebook version (its children move up to its parent); returns
        the version. Codings of the code are kept: older versions still describe them."""
        from dataclasses import replace

        book = self.codebook(codebook)
        gone = book.code(name)
        codes = [replace(c, parent=gone.parent) if c.parent == name else c for c in book.codes if c.name != name]
        return self._save_edit(book, codes, author, note or f"deleted {name}")

    def merge_codes(self, source: str, target: str, *, codebook: str | None = None, author: str | None = None,
                    note: str | None = None) -> int:
        """Merge code ``source`` into ``target`` in a new codebook version: ``target`` gains its
        examples, counter-examples, keywords and children, and ``source`` goes; returns the version.
        Its codings move to ``target`` (one logged change that ``undo`` reverses)."""
        from dataclasses import replace

        from insight.errors import CodebookError

        book = self.codebook(codebook)
        src, dst = book.code(source), book.code(target)
        if source == target:
            raise CodebookError(book.ref, "a code cannot be merged into itself", fix="Pick two different codes.")
        if self._is_ancestor(book, source, target):
            raise CodebookError(book.ref, f"{target!r} is inside {source!r}",
                                fix=f"Merge {target!r} into {source!r} instead, or move it out first.")

        def union(a: list, b: list) -> list:
            return a + [x for x in b if x not in a]

        merged = replace(dst, examples=union(dst.examples, src.examples),
                         counter_examples=union(dst.counter_examples, src.counter_examples),
                         keywords=union(dst.keywords, src.keywords))
        codes = [merged if c.name == target else (replace(c, parent=target) if c.parent == source else c)
                 for c in book.codes if c.name != source]
        version = self._save_edit(book, codes, author, note or f"merged {source} into {target}")
        self._relabel(source, target, author)
        return version

    def _relabel(self, old: str, new: str, author: str | None) -> dict:
        """A renamed or merged code takes its codings along (see :func:`insight.coding.relabel`)."""
        from insight.coding import relabel

        return relabel(self.con, old, new, actor=author)

    @staticmethod
    def _check_code_fields(book, fields: dict) -> None:
        from insight.codebook import CODE_FIELDS
        from insight.errors import CodebookError

        unknown = [k for k in fields if k not in CODE_FIELDS or k == "name"]
        if unknown:
            raise CodebookError(book.ref, f"unknown code field {unknown[0]!r}",
                                fix="Code fields: new_name, " + ", ".join(CODE_FIELDS[1:]) + ".")
        colour = fields.get("colour")
        if colour and not (len(colour) == 7 and colour[0] == "#" and all(c in "0123456789abcdefABCDEF" for c in colour[1:])):
            raise CodebookError(book.ref, f"colour {colour!r} is not a hex colour", fix="Write it like #1f77b4.")

    @staticmethod
    def _is_ancestor(book, ancestor: str, name: str | None) -> bool:
        seen = set()
        while name is not None and name not in seen:
            seen.add(name)
            name = next((c.parent for c in book.codes if c.name == name), None)
            if name == ancestor:
                return True
        return False

    def _save_edit(self, book, codes: list, author: str | None, note: str) -> int:
        """Validate an edited code list exactly as a YAML file would be, then store it."""
        from dataclasses import replace

        from insight import codebook as cb

        edited = replace(book, codes=codes, version=None)
        checked = cb.parse_yaml(edited.to_yaml(), f"{book.name} (edited in the app)")
        checked.name = book.name
        return self.save_codebook(checked, author=author, note=note)

    def disagreements(self, coder_a: str, coder_b: str, code: str, *, study: str | None = None,
                      all_units: bool = False):
        """The units where two coders differ on ``code``: segment id, who coded it, document, speaker, text."""
        from insight.reliability import disagreements

        return disagreements(self.con, coder_a, coder_b, code, study_id=self.study_id(study), all_units=all_units)

    def runs(self, *, step: str | None = None, study: str | None = None, limit: int = 20):
        """The latest pipeline runs (``step``: 'code', 'themes', ...), newest first, with their
        settings and summary as JSON text."""
        sid = self.study_id(study)
        return self.con.execute(
            "SELECT run_id, study_id, step, status, started_at, finished_at, settings, summary FROM runs "
            "WHERE (? IS NULL OR step = ?) AND (? IS NULL OR study_id IS NULL OR study_id = ?) "
            "ORDER BY run_id DESC LIMIT ?", [step, step, sid, sid, limit]).df()

    def codebook_versions(self, name: str | None = None):
        """Every version of a codebook: version, title, author, note, time, number of codes."""
        from insight.codebook import parse_ref

        name = parse_ref(name or self._default_codebook())[0]
        return self.con.execute(
            "SELECT v.version, v.title, v.author, v.note, v.created_at, (SELECT count(*) FROM codes c WHERE "
            "c.codebook_id = v.codebook_id AND c.version = v.version) AS codes FROM codebook_versions v "
            "JOIN codebooks b USING (codebook_id) WHERE b.name = ? ORDER BY v.version DESC", [name]).df()

    def segment_context(self, segment_id: int, *, around: int = 1):
        """A segment with ``around`` segments either side in its document (column ``is_target``)."""
        return self.con.execute(
            "SELECT g.segment_id, g.document_id, d.title AS document, g.ordinal, g.speaker, g.start_ms, g.text, "
            "g.segment_id = t.segment_id AS is_target FROM segments t JOIN segments g ON g.document_id = t.document_id "
            "AND g.ordinal BETWEEN t.ordinal - ? AND t.ordinal + ? JOIN documents d ON d.document_id = g.document_id "
            "WHERE t.segment_id = ? ORDER BY g.ordinal", [around, around, segment_id]).df()

    def code_counts(self, *, study: str | None = None):
        """Codings per code, coder and status, with the number of distinct segments."""
        sid = self.study_id(study)
        return self.con.execute(
            "SELECT c.code, c.coder, c.status, count(*) AS codings, count(DISTINCT c.segment_id) AS segments "
            "FROM codings c JOIN segments g USING (segment_id) JOIN documents d USING (document_id) "
            "WHERE ? IS NULL OR d.study_id = ? GROUP BY ALL ORDER BY codings DESC", [sid, sid]).df()

    def theme_runs(self, *, study: str | None = None):
        """Finished theme runs, newest first: run id, time, settings and summary (JSON text)."""
        return self.runs(step="themes", study=study).query("status == 'done'")

    def themes_over_time(self, run_id: int | None = None, *, study: str | None = None, freq: str = "W"):
        """Segments per theme per period (``freq`` D, W, M, Q or Y); see :func:`insight.themes.themes_over_time`."""
        from insight.themes import themes_over_time

        return themes_over_time(self.con, run_id, freq=freq, study_id=self._theme_study(study))

    def theme_code_overlap(self, run_id: int | None = None, *, study: str | None = None, coder: str | None = None):
        """How much of each theme each code covers; see :func:`insight.themes.theme_code_overlap`."""
        from insight.themes import theme_code_overlap

        return theme_code_overlap(self.con, run_id, coder=coder, study_id=self._theme_study(study))

    def segment_themes(self, run_id: int | None = None, *, study: str | None = None):
        """Each segment of a theme run with its theme; see :func:`insight.themes.segment_themes`."""
        from insight.themes import segment_themes

        return segment_themes(self.con, run_id, study_id=self._theme_study(study))

    def gap_candidates(self, run_id: int | None = None, *, study: str | None = None) -> dict:
        """The candidate codes of a gaps run (default: the latest); see :meth:`gaps`."""
        from insight.themes import gap_candidates

        return gap_candidates(self.con, run_id, study_id=self._theme_study(study))

    @staticmethod
    def preview_table(path: str | Path, *, sheet: str | None = None, rows: int = 20):
        """The first ``rows`` rows of a CSV/XLSX file as strings, to choose columns before ingest."""
        from insight.readers.base import IngestOptions
        from insight.readers.tabular import load_frame

        path = Path(path)
        frame, _, _ = load_frame(path, path.read_bytes(), IngestOptions(sheet=sheet))
        return frame.head(rows)

    # -- themes and gaps (pipelines/themes/, insight/themes/) ------------------------------------

    @staticmethod
    def _records(frame) -> list[dict]:
        """DataFrame rows as plain JSON-ready dicts (missing values as None)."""
        import json

        return json.loads(frame.to_json(orient="records", date_format="iso", force_ascii=False))

    def _theme_study(self, study: str | None) -> int | None:
        """The study for theme runs: the named one, else the only one (else all studies)."""
        if study is not None:
            return self.study_id(study)
        ids = [r[0] for r in self.con.execute("SELECT study_id FROM studies").fetchall()]
        return ids[0] if len(ids) == 1 else None

    def themes(self, *, study: str | None = None, min_size: int | None = None, seed: int = 42, model: str | None = None,
               include_interviewer: bool = False, by: str | None = None, progress=None) -> dict:
        """Discover themes (BERTopic over the cached embeddings) and store them as a new run.

        Returns ``{"run_id", "themes": [{id, label, keywords, size, share, parent_id, quotes}],
        "groups", "outlier_share", "unassigned", "segments", "settings"}`` (with ``by``: also a
        theme-by-attribute table under ``"by"``).
        """
        from insight.themes import discover_themes, run_info, theme_table, themes_by

        run_id = discover_themes(self.con, self._theme_study(study), min_size=min_size, seed=seed, model=model,
                                 include_interviewer=include_interviewer, progress=progress)
        info = run_info(self.con, run_id)
        out = {"run_id": run_id, "segments": info["summary"]["segments"],
               "unassigned": info["summary"]["unassigned"], "outlier_share": info["summary"]["outlier_share"],
               "themes": self._records(theme_table(self.con, run_id, include_unassigned=False)),
               "groups": self._records(theme_table(self.con, run_id, groups=True)), "settings": info["settings"]}
        if by:
            out["by"] = self._records(themes_by(self.con, by, run_id))
        return out

    def theme_table(self, run_id: int | None = None, *, study: str | None = None, **options):
        """The themes of a run (default: the latest) as a DataFrame, largest first."""
        from insight.themes import theme_table

        return theme_table(self.con, run_id, study_id=self._theme_study(study), **options)

    def themes_by(self, attribute: str, run_id: int | None = None, *, study: str | None = None):
        """Counts and percentages of each theme per participant attribute value."""
        from insight.themes import themes_by

        return themes_by(self.con, attribute, run_id, study_id=self._theme_study(study))

    def gaps(self, *, study: str | None = None, coders: list[str] | None = None, min_size: int | None = None,
             seed: int = 42, model: str | None = None, progress=None) -> dict:
        """Cluster the segments no code covers (by ``coders``, default anyone) into candidate codes."""
        from insight.themes import find_gaps

        return find_gaps(self.con, self._theme_study(study), list(coders) if coders else None, min_size=min_size,
                         seed=seed, model=model, progress=progress)

    def add_gap_as_code(self, candidate, codebook: str, *, name: str | None = None, author: str | None = None,
                        study: str | None = None) -> dict:
        """Add a gap candidate (``3``, or ``"RUN:3"``) to a codebook as a new code in a new version."""
        from insight.themes import add_gap_as_code

        book, version = add_gap_as_code(self.con, candidate, codebook, name=name, author=author or _user(),
                                        study_id=self._theme_study(study))
        return {"codebook": book, "version": version, "code": self.codebook(f"{book}@{version}").codes[-1].name}

    def theme_map(self, out: str | Path | None = None, *, run_id: int | None = None, colour_by: str = "theme",
                  coder: str | None = None, study: str | None = None):
        """The 2-D theme map as a plotly figure; with ``out`` (.html or .png) also written there."""
        from insight.themes.maps import theme_map, write_figure

        fig = theme_map(self.con, run_id, colour_by=colour_by, coder=coder, study_id=self._theme_study(study))
        if out is not None:
            write_figure(fig, out)
        return fig

    # -- exports and REFI-QDA (export.py, reports.py, refi.py) -----------------------------------

    def export(self, out: str | Path, *, format: str | None = None, study: str | None = None, **options) -> dict:
        """Write a coded dataset, report or REFI-QDA file; see :func:`insight.export.export`.

        >>> ws = Workspace(":memory:")
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "n.txt").write_text("Interviewer: Hi.\\nP1: Hello.\\n")
        >>> _ = ws.ingest([d / "n.txt"], study="s")
        >>> ws.export(d / "s.qdpx")["sources"]
        1
        """
        from insight.export import export

        return export(self.con, format, out, study=study, **options)

    def dataset(self, study: str | None = None, **options):
        """The coded dataset as a DataFrame (``shape='long'`` or ``'wide'``); see
        :func:`insight.export.coded_dataset`."""
        from insight.export import coded_dataset

        return coded_dataset(self.con, study=study, **options)

    def crosstab(self, by: str, study: str | None = None, *, unit: str = "participants", **scope):
        """Codes by the values of attribute ``by``: ``(counts, column percentages, base)``."""
        from insight.export import resolve_scope
        from insight.reports import crosstab

        return crosstab(self.con, resolve_scope(self.con, study=study, codebook_default=True, **scope), by, unit)

    def cooccurrence(self, study: str | None = None, **scope):
        """Codes by codes: segments coded with both (accepted codings unless ``statuses`` says)."""
        from insight.export import resolve_scope
        from insight.reports import cooccurrence

        return cooccurrence(self.con, resolve_scope(self.con, study=study, codebook_default=True, **scope))


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return "unknown"
