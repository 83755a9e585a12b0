"""The library's entry point: one object over one database file.

A thin facade: each method names the study and codebook a call means (:mod:`insight.scope`) and
hands over to one operation (ingest, coding, reliability, themes, privacy, export, ...) or read
(:mod:`insight.reads`). Steps that compute something have ``run_`` names (``run_themes``,
``run_autocoders``, ``run_gaps``); their older names (``themes``, ``code``, ``gaps``) still work.

>>> ws = Workspace(":memory:")
>>> ws.stats()["documents"]
0
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from insight import reads, scope, store
from insight.statuses import auto_coder
from insight.themes.verbs import ThemeEditVerbs


class Workspace(ThemeEditVerbs):
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
        return scope.study_names(self.con)

    def study_id(self, name: str | None, *, default: str = scope.ALL) -> int | None:
        """The id of study ``name``; without one, as ``default`` says: ``"all"`` (``None``, every
        study), ``"only"`` (the only study, else ``None``) or ``"required"`` (the only study, else an
        error); see :mod:`insight.scope`."""
        return scope.resolve_study(self.con, name, default=default)

    def default_study(self) -> str:
        """The study new files go to: the only one, else ``'default'``."""
        return scope.new_study_name(self.con)

    def _theme_study(self, study: str | None) -> int | None:
        return self.study_id(study, default=scope.ONLY)

    # -- ingest and reads (ingest.py, reads.py) ---------------------------------------------------

    def ingest(self, paths: list[str | Path], *, study: str | None = None,
               progress: Callable[[int, int, str], None] | None = None, **options):
        """Read files and folders into a study; one transaction per file. ``options`` are
        :class:`~insight.readers.base.IngestOptions` fields (``text_cols``, ``code_cols``, ``coder``,
        ``blank_means_no_code`` ...).

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

    @staticmethod
    def preview_table(path: str | Path, *, sheet: str | None = None, rows: int = 20):
        """The first ``rows`` rows of a CSV/XLSX file as strings, to choose columns before ingest."""
        from insight.readers.base import IngestOptions
        from insight.readers.tabular import load_frame

        path = Path(path)
        frame, _, _ = load_frame(path, path.read_bytes(), IngestOptions(sheet=sheet))
        return frame.head(rows)

    @staticmethod
    def preview_file(path: str | Path, **options):
        """What ingesting ``path`` with these options would make of it, without storing anything: the
        reader, the kind of its documents (guessed unless ``kind`` is given), the speakers found, the
        reader's notes, or the problem that would stop it (:class:`insight.readers.FilePreview`)."""
        from insight.readers import IngestOptions, preview

        return preview(path, IngestOptions(**options))

    def stats(self, study: str | None = None) -> dict:
        """Counts for one study (or all): documents, segments, participants, speakers, codes, codings."""
        from insight.stats import stats

        return stats(self.con, self.study_id(study))

    def documents(self, study: str | None = None):
        return reads.documents(self.con, self.study_id(study))

    def segments(self, study: str | None = None, document_id: int | None = None):
        return reads.segments(self.con, self.study_id(study), document_id)

    def participants(self, study: str | None = None):
        """One row per participant with a column per attribute."""
        return reads.participants(self.con, self.study_id(study))

    def search(self, query: str, *, study: str | None = None, limit: int = 200):
        """Segments whose text contains ``query`` (case-insensitive), with document and speaker."""
        return reads.search(self.con, query, self.study_id(study), limit)

    def segment_context(self, segment_id: int, *, around: int = 1):
        """A segment with ``around`` segments either side in its document (column ``is_target``)."""
        return reads.segment_context(self.con, segment_id, around)

    def codings(self, *, study: str | None = None, coder: str | None = None, document_id: int | None = None,
                status: str | None = None):
        """Codings with their segment text, newest last."""
        return reads.codings(self.con, self.study_id(study), coder=coder, document_id=document_id, status=status)

    def code_counts(self, *, study: str | None = None):
        """Codings per code, coder and status, with the number of distinct segments."""
        return reads.code_counts(self.con, self.study_id(study))

    def runs(self, *, step: str | None = None, study: str | None = None, limit: int = 20):
        """The latest pipeline runs (``step``: 'code', 'themes', ...), newest first, with their
        settings and summary as JSON text."""
        return reads.runs(self.con, self.study_id(study), step=step, limit=limit)

    # -- codebooks (codebook.py, codebook_edit.py) --------------------------------------------------

    def load_codebook(self, path: str | Path, *, author: str | None = None, note: str | None = None,
                      study: str | None = None, name: str | None = None, columns: dict | None = None,
                      sheet: str | None = None) -> dict:
        """Load a codebook file (YAML, REFI-QDA .qdc, or a CSV/XLSX sheet with one row per code); a
        change makes a new numbered version. A code the new version renames (same definition or
        examples under a new name, see :func:`insight.codebook.diff`) takes its codings along, as a
        rename in the app does. ``name`` stores it as that codebook (a spreadsheet names none: by
        default its file name); ``columns`` maps code fields to a sheet's headers (guessed when not
        given; the result's ``sheet`` says how it was read)."""
        from insight import codebook_edit

        return codebook_edit.load(self.con, path, author=author, note=note, name=name, columns=columns, sheet=sheet,
                                  study_id=self.study_id(study) if study else None)

    def codebook(self, ref: str | None = None):
        """A stored codebook version (``'name@3'``; default: the latest of the only codebook)."""
        from insight import codebook as cb

        return cb.get(self.con, scope.resolve_codebook(self.con, ref))

    def codebooks(self):
        from insight import codebook as cb

        return cb.list_codebooks(self.con)

    def codebook_versions(self, name: str | None = None):
        """Every version of a codebook: version, title, author, note, time, number of codes."""
        from insight.codebook import parse_ref

        return reads.codebook_versions(self.con, parse_ref(scope.resolve_codebook(self.con, name))[0])

    def save_codebook(self, book, *, author: str | None = None, note: str | None = None) -> int:
        """Store an edited codebook as a new version; returns the version number."""
        from insight import codebook_edit

        return codebook_edit.save(self.con, book, author=author, note=note)

    def diff_codebooks(self, ref_a: str, ref_b: str) -> dict:
        from insight import codebook as cb

        return cb.diff(cb.get(self.con, ref_a), cb.get(self.con, ref_b))

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
        from insight import codebook_edit

        return codebook_edit.edit_code(self.con, self.codebook(codebook), name, author=author, note=note, **fields)

    def add_code(self, name: str, *, parent: str | None = None, codebook: str | None = None,
                 author: str | None = None, note: str | None = None, **fields) -> int:
        """Add a code (under ``parent``) and save a new codebook version; returns the version."""
        from insight import codebook_edit

        return codebook_edit.add_code(self.con, self.codebook(codebook), name, parent=parent, author=author,
                                      note=note, **fields)

    def delete_code(self, name: str, *, codebook: str | None = None, author: str | None = None,
                    note: str | None = None) -> int:
        """Remove a code from a new codebook version (its children move up to its parent); returns
        the version. Codings of the code are kept: older versions still describe them."""
        from insight import codebook_edit

        return codebook_edit.delete_code(self.con, self.codebook(codebook), name, author=author, note=note)

    def merge_codes(self, source: str, target: str, *, codebook: str | None = None, author: str | None = None,
                    note: str | None = None) -> int:
        """Merge code ``source`` into ``target`` in a new codebook version: ``target`` gains its
        examples, counter-examples, keywords and children, and ``source`` goes; returns the version.
        Its codings move to ``target`` (one logged change that ``undo`` reverses)."""
        from insight import codebook_edit

        return codebook_edit.merge_codes(self.con, self.codebook(codebook), source, target, author=author, note=note)

    def _reference_codebook(self, codebook: str | None, study: str | None):
        """The codebook imported codes are checked against: the named one, else the study's."""
        from insight import codebook as cb

        ref = codebook or scope.reference_codebook(self.con, self.study_id(study, default=scope.ONLY))
        if ref is None:
            from insight.errors import InsightError

            raise InsightError("There is no codebook to check the codes against (only codes that came with the data).",
                               hint="Load one: insight codebook load FILE")
        return cb.get(self.con, ref)

    def unknown_codes(self, *, study: str | None = None, codebook: str | None = None) -> dict:
        """The codes of a study's codings that its codebook lacks (typos such as ``beween``, or codes
        that came with imported data), each with its codings, nearest codebook names and the one to
        fold it into when it is clearly a typo (``suggested``)."""
        from insight import codebook_edit

        book = self._reference_codebook(codebook, study)
        study_id = self.study_id(study, default=scope.ONLY)
        return {"codebook": book.ref, "study": scope.study_name(self.con, study_id) if study_id else None,
                "codes": codebook_edit.unknown_in_study(self.con, study_id, book)}

    def fold_code(self, old: str, new: str, *, codebook: str | None = None, study: str | None = None,
                  author: str | None = None) -> dict:
        """Fold a code that came with imported codings (``beween``) into a code of the codebook
        (``between``): its codings move, tied to the codebook's version (``undo`` reverses it), and it
        leaves the codebook that collected it."""
        from insight import codebook_edit

        return codebook_edit.fold_code(self.con, self._reference_codebook(codebook, study), old, new, author=author)

    # -- coding and agreement (coding/, codetest.py, reliability.py) -----------------------------

    def embed(self, *, study: str | None = None, model: str | None = None, progress=None) -> dict:
        """Embed every segment not yet cached for the model (each text once, across studies)."""
        from insight.embeddings import embed_segments
        from pipelines.embed import get_embedder

        return embed_segments(self.con, study_id=self.study_id(study), embedder=get_embedder(model), progress=progress)

    def run_autocoders(self, *, study: str | None = None, codebook: str | None = None, methods=("rules", "semantic"),
                       train_coder: str | None = None, model: str | None = None, progress=None,
                       include_interviewer: bool = False) -> dict:
        """Run auto-coders; they write suggestions, never touching human codings. The interviewer's
        turns are left out unless ``include_interviewer``."""
        from insight.coding import run_autocoders
        from pipelines.embed import get_embedder

        embedder = get_embedder(model) if ("semantic" in methods or "classifier" in methods) else None
        return run_autocoders(self.con, self.study_id(study), self.codebook(codebook), methods=methods,
                              train_coder=train_coder, embedder=embedder, progress=progress,
                              include_interviewer=include_interviewer)

    code = run_autocoders

    def test_codebook(self, *, study: str | None = None, codebook: str | None = None, gold: str | None = None,
                      cv: int = 5, min_f1: float = 0.5, methods=("rules", "semantic"), model: str | None = None,
                      include_interviewer: bool = False, progress=None) -> dict:
        """Test a codebook like code: examples, counter-examples and (with a gold coder) F1 per code,
        on the units code codes (the interviewer's turns left out unless ``include_interviewer``)."""
        from insight.codetest import test_codebook
        from pipelines.embed import get_embedder

        return test_codebook(self.con, self.study_id(study), self.codebook(codebook), gold=gold, cv=cv, min_f1=min_f1,
                             methods=methods, embedder=get_embedder(model), include_interviewer=include_interviewer,
                             progress=progress)

    def agreement(self, coder_a: str, coder_b: str, *, study: str | None = None, all_units: bool = False,
                  bootstrap: int = 1000) -> dict:
        """Kappa, alpha, percent agreement and P/R/F1 (B against A) per code and overall, and how many
        units each coder saw, both saw and only one saw (``coverage``, ``coverage_note``)."""
        from insight.reliability import agreement

        return agreement(self.con, coder_a, coder_b, study_id=self.study_id(study), all_units=all_units,
                         bootstrap=bootstrap)

    def disagreements(self, coder_a: str, coder_b: str, code: str, *, study: str | None = None,
                      all_units: bool = False):
        """The units where two coders differ on ``code``: segment id, who coded it, document, speaker, text."""
        from insight.reliability import disagreements

        return disagreements(self.con, coder_a, coder_b, code, study_id=self.study_id(study), all_units=all_units)

    def coders(self, study: str | None = None) -> list[str]:
        from insight.reliability import coders

        return coders(self.con, self.study_id(study))

    def code_passage(self, document_id: int, start: int, end: int, code: str, coder: str, *,
                     codebook: str | None = None, memo: str | None = None) -> int:
        """Code ``start:end`` (code points, end exclusive) of a document with a codebook's code; returns its id."""
        from insight.coding import code_passage, coding_codebook

        return code_passage(self.con, document_id, start, end, code, coder,
                            codebook=coding_codebook(self.con, codebook), memo=memo)

    def code_segment(self, segment_id: int, code: str, coder: str, **span) -> int:
        """Code a whole segment (or ``start=``/``end=`` of its document)."""
        from insight.coding import code_segment, coding_codebook

        return code_segment(self.con, segment_id, code, coder, codebook=coding_codebook(self.con, None), **span)

    def uncode_segment(self, segment_id: int, code: str, coder: str) -> int:
        from insight.coding import uncode_segment

        return uncode_segment(self.con, segment_id, code, coder)

    def remove_coding(self, coding_id: int, coder: str) -> dict:
        """Remove one of ``coder``'s codings (``undo`` restores it)."""
        from insight.coding import remove_coding

        return remove_coding(self.con, coding_id, coder)

    def recode(self, coding_id: int, code: str, coder: str, *, codebook: str | None = None) -> int:
        """Give one of ``coder``'s passages another code; returns the new coding's id."""
        from insight.coding import coding_codebook, recode

        return recode(self.con, coding_id, code, coder, codebook=coding_codebook(self.con, codebook))

    def set_coding_memo(self, coding_id: int, memo: str | None, coder: str) -> None:
        """Write (or clear) the memo on one of ``coder``'s codings."""
        from insight.coding import set_memo

        set_memo(self.con, coding_id, memo, coder)

    def document(self, document_id: int) -> dict:
        """One document: id, title, kind, text and its segments (a DataFrame)."""
        return reads.document(self.con, document_id)

    def accept(self, coding_id: int, coder: str) -> int:
        from insight.coding import accept

        return accept(self.con, coding_id, coder)

    def reject(self, coding_id: int, coder: str) -> None:
        from insight.coding import reject

        reject(self.con, coding_id, coder)

    def review_queue(self, *, study: str | None = None, coder: str = auto_coder("best"), limit: int = 50):
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

    # -- privacy and backup (privacy/, backup.py) ---------------------------------------------------

    def pseudonymise(self, *, study: str | None = None, actor: str | None = None, use_ner: bool = True) -> dict:
        """Replace personal data in a study with stable pseudonyms; originals are kept apart."""
        from insight.privacy import pseudonymise

        return pseudonymise(self.con, self.study_id(study, default=scope.REQUIRED),
                            actor=actor or scope.current_user(), use_ner=use_ner)

    def pseudonyms(self, *, study: str | None = None, status: str | None = None, kind: str | None = None,
                   label: str | None = None, limit: int | None = None):
        """The review list: every replacement with its original (researchers only)."""
        from insight.privacy import review

        return review(self.con, self.study_id(study), status=status, kind=kind, label=label, limit=limit)

    def accept_pseudonyms(self, mention_ids, *, actor: str | None = None) -> int:
        """Confirm replacements by id; a candidate (or an undone one) is replaced."""
        from insight.privacy import accept

        return accept(self.con, mention_ids, actor=actor or scope.current_user())

    def undo_pseudonyms(self, mention_ids=(), *, label: str | None = None, study: str | None = None,
                        actor: str | None = None) -> int:
        """Show the originals again: of these replacements, or of every mention of ``label``."""
        from insight.privacy import undo

        study_id = self.study_id(study, default=scope.REQUIRED) if label else None
        return undo(self.con, mention_ids, study_id=study_id, label=label, actor=actor or scope.current_user())

    def add_pseudonym(self, text: str, *, kind: str = "PERSON", label: str | None = None, study: str | None = None,
                      actor: str | None = None) -> dict:
        """Replace something the rules missed, everywhere in the study and in future runs."""
        from insight.privacy import add

        return add(self.con, self.study_id(study, default=scope.REQUIRED), text, kind=kind, label=label,
                   actor=actor or scope.current_user())

    def rename_pseudonym(self, label: str, new_label: str, *, study: str | None = None) -> dict:
        from insight.privacy import rename

        return rename(self.con, self.study_id(study, default=scope.REQUIRED), label, new_label)

    def reveal_pseudonym(self, label: str, *, study: str | None = None) -> dict:
        """Re-identification: the original behind a pseudonym (researchers only)."""
        from insight.privacy import reveal

        return reveal(self.con, self.study_id(study, default=scope.REQUIRED), label)

    def reverse_pseudonyms(self, *, study: str | None = None) -> dict:
        """Put every original back and forget the pseudonyms of a study."""
        from insight.privacy import reverse

        return reverse(self.con, self.study_id(study, default=scope.REQUIRED))

    def backup(self, out: str | Path) -> dict:
        """A consistent copy of this workspace's database, checked row for row."""
        from insight.backup import backup

        return backup(out, con=self.con)

    # -- themes and gaps (pipelines/themes/, insight/themes/) ------------------------------------

    def run_themes(self, *, study: str | None = None, min_size: int | None = None, seed: int = 42,
                   model: str | None = None, include_interviewer: bool = False, by: str | None = None,
                   progress=None, outside=None) -> dict:
        """Discover themes (BERTopic over the cached embeddings) and store them as a new run.

        Returns ``{"run_id", "themes": [{id, label, keywords, size, share, parent_id, quotes}],
        "groups", "outlier_share", "unassigned", "segments", "settings"}`` (with ``by``: also a
        theme-by-attribute table under ``"by"``).
        """
        from insight.themes import discover_themes, run_info, theme_table, themes_by

        run_id = discover_themes(self.con, self._theme_study(study), min_size=min_size, seed=seed, model=model,
                                 include_interviewer=include_interviewer, progress=progress, outside=outside)
        info = run_info(self.con, run_id)
        out = {"run_id": run_id, "segments": info["summary"]["segments"],
               "unassigned": info["summary"]["unassigned"], "outlier_share": info["summary"]["outlier_share"],
               "themes": reads.records(theme_table(self.con, run_id, include_unassigned=False)),
               "groups": reads.records(theme_table(self.con, run_id, groups=True)), "settings": info["settings"]}
        if by:
            out["by"] = reads.records(themes_by(self.con, by, run_id))
        return out

    themes = run_themes

    def run_gaps(self, *, study: str | None = None, coders: list[str] | None = None, min_size: int | None = None,
                 seed: int = 42, model: str | None = None, progress=None) -> dict:
        """Cluster the segments no code covers (by ``coders``, default anyone) into candidate codes."""
        from insight.themes import find_gaps

        return find_gaps(self.con, self._theme_study(study), list(coders) if coders else None, min_size=min_size,
                         seed=seed, model=model, progress=progress)

    gaps = run_gaps

    def theme_runs(self, *, study: str | None = None):
        """Finished theme runs, newest first: run id, time, settings and summary (JSON text)."""
        return self.runs(step="themes", study=study).query("status == 'done'")

    def theme_table(self, run_id: int | None = None, *, study: str | None = None, **options):
        """The themes of a run (default: the latest) as a DataFrame, largest first."""
        from insight.themes import theme_table

        return theme_table(self.con, run_id, study_id=self._theme_study(study), **options)

    def themes_by(self, attribute: str, run_id: int | None = None, *, study: str | None = None):
        """Counts and percentages of each theme per participant attribute value."""
        from insight.themes import themes_by

        return themes_by(self.con, attribute, run_id, study_id=self._theme_study(study))

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
        """The candidate codes of a gaps run (default: the latest); see :meth:`run_gaps`."""
        from insight.themes import gap_candidates

        return gap_candidates(self.con, run_id, study_id=self._theme_study(study))

    def add_gap_as_code(self, candidate, codebook: str, *, name: str | None = None, author: str | None = None,
                        study: str | None = None) -> dict:
        """Add a gap candidate (``3``, or ``"RUN:3"``) to a codebook as a new code in a new version."""
        from insight.themes import add_gap_as_code

        book, version = add_gap_as_code(self.con, candidate, codebook, name=name,
                                        author=author or scope.current_user(), study_id=self._theme_study(study))
        return {"codebook": book, "version": version, "code": self.codebook(f"{book}@{version}").codes[-1].name}

    def theme_map(self, out: str | Path | None = None, *, run_id: int | None = None, colour_by: str = "theme",
                  coder: str | None = None, study: str | None = None):
        """The 2-D theme map as a plotly figure; with ``out`` (.html or .png) also written there."""
        return self.theme_chart("map", out, run_id=run_id, colour_by=colour_by, coder=coder, study=study)

    def theme_chart(self, chart: str = "map", out: str | Path | None = None, *, run_id: int | None = None,
                    colour_by: str = "theme", coder: str | None = None, by: str | None = None, freq: str = "W",
                    study: str | None = None):
        """A chart of a theme run as a plotly figure: ``"map"`` (the 2-D theme map), ``"by"``
        (themes by attribute ``by``), ``"codes"`` (code co-occurrence) or ``"time"`` (themes per
        ``freq`` period); with ``out`` (.html or .png) also written there."""
        from insight.themes import maps

        sid = self._theme_study(study)
        if chart == "map":
            fig = maps.theme_map(self.con, run_id, colour_by=colour_by, coder=coder, study_id=sid)
        elif chart == "by":
            fig = maps.theme_attribute_heatmap(self.con, by, run_id, study_id=sid)
        elif chart == "codes":
            fig = maps.code_cooccurrence_heatmap(self.con, study_id=sid, coder=coder)
        else:
            fig = maps.themes_over_time_chart(self.con, run_id, freq=freq, study_id=sid)
        if out is not None:
            maps.write_figure(fig, out)
        return fig

    # -- exports and REFI-QDA (export.py, reports.py, refi.py, refi_project.py) -----------------

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

