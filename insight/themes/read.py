"""Reading theme runs: tables the app, the CLI and the exports show, and the gap finder's last step.

Theme discovery itself (BERTopic, UMAP, HDBSCAN) lives in :mod:`pipelines.themes` and is stored by
:mod:`insight.themes.run`; everything here is plain SQL and pandas over the ``runs``, ``themes`` and ``segment_themes`` tables, so it loads
no model. Every figure is a count of stored rows, reproducible from an export with pandas:

>>> import pandas as pd  # doctest: +SKIP
>>> pd.crosstab(segments.theme_id, segments.ward, normalize="columns")  # == themes_by(con, "ward")

Percentages are of the segments of the theme run (participants' interviewer turns are not in it).
"""

from __future__ import annotations

import json

import pandas as pd

from insight.errors import InsightError, NotFound
from insight.themes.members import current_quotes

UNASSIGNED = -1
NO_VALUE = "(none)"


def latest_run(con, study_id: int | None = None, step: str = "themes", *, study_only: bool = False) -> int | None:
    """The newest finished run of ``step`` for a study (``None``: any study), or ``None``. Runs over
    all studies count for every study, unless ``study_only`` (exports and reports of one study)."""
    row = con.execute(
        "SELECT max(run_id) FROM runs WHERE step = ? AND status = 'done' "
        "AND (? IS NULL OR study_id = ? OR (study_id IS NULL AND NOT ?))",
        [step, study_id, study_id, study_only]).fetchone()
    return row[0] if row and row[0] is not None else None


def resolve_run(con, run_id: int | None = None, study_id: int | None = None, step: str = "themes") -> int:
    """``run_id`` checked to exist, else the latest run; a clear error when there is none."""
    if run_id is None:
        run_id = latest_run(con, study_id, step)
        if run_id is None:
            command = "insight themes" if step == "themes" else "insight gaps"
            raise InsightError(f"There is no {step} run yet.", hint=f"Run one first: {command}")
        return run_id
    row = con.execute("SELECT step FROM runs WHERE run_id = ?", [run_id]).fetchone()
    if not row or row[0] != step:
        known = [str(r[0]) for r in con.execute("SELECT run_id FROM runs WHERE step = ? ORDER BY run_id", [step]).fetchall()]
        raise NotFound(f"{step} run", str(run_id), known)
    return int(run_id)


def run_info(con, run_id: int) -> dict:
    """A run's step, study, settings, summary and times."""
    row = con.execute("SELECT run_id, study_id, step, settings, summary, status, started_at, finished_at FROM runs "
                      "WHERE run_id = ?", [run_id]).fetchone()
    if not row:
        raise NotFound("run", str(run_id))
    return {"run_id": row[0], "study_id": row[1], "step": row[2], "settings": json.loads(row[3] or "{}"),
            "summary": json.loads(row[4] or "{}"), "status": row[5], "started_at": row[6], "finished_at": row[7]}


def run_key(con, run_id: int) -> str:
    """A fingerprint of everything a theme run's map and tables are drawn from: its themes (ids,
    labels, sizes, parents), each segment's theme and place, and the segments' text and speaker
    (pseudonymised text changes it). The app caches a run's figures by it, so a write elsewhere
    (a gap finder run, a coding) does not redraw them, and a renamed theme does."""
    themes = con.execute("SELECT count(*), bit_xor(hash(theme_id, label, size, parent_id)) FROM themes "
                         "WHERE run_id = ?", [run_id]).fetchone()
    points = con.execute(
        "SELECT count(*), bit_xor(hash(s.segment_id, s.theme_id, s.x, s.y, g.text, g.participant_id)) "
        "FROM segment_themes s JOIN segments g USING (segment_id) WHERE s.run_id = ?", [run_id]).fetchone()
    return f"{run_id}:{themes[0]}:{themes[1]}:{points[0]}:{points[1]}"


def theme_table(con, run_id: int | None = None, *, study_id: int | None = None, include_unassigned: bool = True,
                groups: bool = False) -> pd.DataFrame:
    """One row per theme of a run (default: the latest), largest first: ``id, label, keywords,
    size, share, base, parent_id, parent_label, quotes, level, kind, subtitle, pinned,
    named_by``. ``share`` is of the run's segments (``base``); ``level`` is 0 for a top-level
    theme (a group, a theme in no group, small talk) and 1 for a sub-theme (its group is ``parent_id``); ``kind`` is
    ``theme``, ``group``, ``small_talk`` or ``unassigned``; ``subtitle`` is the quote nearest the
    theme's centre; ``named_by`` says who named it (empty: Insight). The unassigned segments
    come last as id -1. ``groups=True`` lists the groups instead.
    """
    run_id = resolve_run(con, run_id, study_id)
    frame = con.execute("SELECT theme_id AS id, label, keywords, size, parent_id, quotes, kind, pinned, named_by "
                        "FROM themes WHERE run_id = ? ORDER BY theme_id", [run_id]).df()
    total = con.execute("SELECT count(*) FROM segment_themes WHERE run_id = ?", [run_id]).fetchone()[0]
    parents = set(frame["parent_id"].dropna().astype(int))
    labels = dict(zip(frame["id"], frame["label"]))
    frame["keywords"] = frame["keywords"].map(lambda s: json.loads(s or "[]"))
    frame["quotes"] = current_quotes(con, [json.loads(s or "[]") for s in frame["quotes"]])
    frame["share"] = frame["size"] / total if total else 0.0
    frame["base"] = int(total)
    frame["parent_label"] = frame["parent_id"].map(lambda p: labels.get(int(p)) if pd.notna(p) else None)
    frame["parent_id"] = frame["parent_id"].astype("Int64")
    is_group = frame["id"].isin(parents) | (frame["kind"] == "group")
    frame["kind"] = frame["kind"].where(~is_group, "group").fillna("theme")
    frame.loc[frame["id"] == UNASSIGNED, "kind"] = "unassigned"
    frame["level"] = frame["parent_id"].notna().astype(int)
    frame["subtitle"] = frame["quotes"].map(lambda q: q[0]["text"] if q else None)
    frame["pinned"] = frame["pinned"].fillna(False).astype(bool)
    frame = frame[is_group] if groups else frame[~is_group]
    if not include_unassigned or groups:
        frame = frame[frame["id"] != UNASSIGNED]
    frame = frame.sort_values(["size", "id"], ascending=[False, True], key=None)
    frame = pd.concat([frame[frame["id"] != UNASSIGNED], frame[frame["id"] == UNASSIGNED]])
    return frame[["id", "label", "keywords", "size", "share", "base", "parent_id", "parent_label", "quotes", "level",
                  "kind", "subtitle", "pinned", "named_by"]].reset_index(drop=True)


def segment_themes(con, run_id: int | None = None, *, study_id: int | None = None) -> pd.DataFrame:
    """Each segment of a run with its theme: ``segment_id, theme_id, theme, probability,
    reassigned, x, y`` (for exports and maps; ``theme`` is the label)."""
    run_id = resolve_run(con, run_id, study_id)
    return con.execute(
        "SELECT s.segment_id, s.theme_id, t.label AS theme, s.probability, s.reassigned, s.x, s.y "
        "FROM segment_themes s LEFT JOIN themes t ON t.run_id = s.run_id AND t.theme_id = s.theme_id "
        "WHERE s.run_id = ? ORDER BY s.segment_id", [run_id]).df()


def _attribute_values(con, run_id: int, attribute: str) -> pd.DataFrame:
    """``segment_id, theme_id, participant_id, value`` for a participant attribute (or ``kind``:
    document kind)."""
    if attribute == "kind":
        return con.execute(
            "SELECT s.segment_id, s.theme_id, g.participant_id, d.kind AS value FROM segment_themes s "
            "JOIN segments g USING (segment_id) "
            "JOIN documents d USING (document_id) WHERE s.run_id = ?", [run_id]).df()
    known = [r[0] for r in con.execute("SELECT DISTINCT name FROM attributes ORDER BY 1").fetchall()]
    if attribute not in known:
        raise NotFound("attribute", attribute, known + ["kind"])
    return con.execute(
        "SELECT s.segment_id, s.theme_id, g.participant_id, a.value FROM segment_themes s "
        "JOIN segments g USING (segment_id) "
        "LEFT JOIN attributes a ON a.participant_id = g.participant_id AND a.name = ? WHERE s.run_id = ?",
        [attribute, run_id]).df()


def themes_by(con, attribute: str, run_id: int | None = None, *, study_id: int | None = None) -> pd.DataFrame:
    """Themes by a participant attribute (ward, age band, ...; or ``kind``): one row per theme
    and attribute value with ``segments``, ``pct_of_group`` (share of that group's segments in
    the theme; each group sums to 100) and its base ``group_segments``, ``pct_of_theme`` (share
    of the theme's segments from that group) and its base ``theme_segments``, ``group_people``
    (participants in the group) and ``small`` (a group of fewer than
    :data:`~insight.themes.shares.MIN_BASE` people: its percentages swing on one person).
    Segments without the attribute count under "(none)"; unassigned ones as theme -1.
    """
    from insight.themes.shares import is_small

    run_id = resolve_run(con, run_id, study_id)
    data = _attribute_values(con, run_id, attribute)
    data["value"] = data["value"].fillna(NO_VALUE).astype(str)
    counts = data.groupby(["theme_id", "value"]).size().rename("segments").reset_index()
    group_totals = data.groupby("value").size()
    group_people = data.groupby("value")["participant_id"].nunique()
    theme_totals = data.groupby("theme_id").size()
    counts["group_segments"] = counts["value"].map(group_totals).astype("int64")
    counts["pct_of_group"] = 100.0 * counts["segments"] / counts["group_segments"]
    counts["theme_segments"] = counts["theme_id"].map(theme_totals).astype("int64")
    counts["pct_of_theme"] = 100.0 * counts["segments"] / counts["theme_segments"]
    counts["group_people"] = counts["value"].map(group_people).astype("int64")
    counts["small"] = is_small(counts["group_segments"], counts["group_people"])
    labels = dict(con.execute("SELECT theme_id, label FROM themes WHERE run_id = ?", [run_id]).fetchall())
    counts.insert(1, "label", counts["theme_id"].map(labels))
    counts = counts.rename(columns={"value": attribute})
    return counts.sort_values(["theme_id", attribute]).reset_index(drop=True)


def themes_over_time(con, run_id: int | None = None, *, freq: str = "W", study_id: int | None = None) -> pd.DataFrame:
    """Segments per theme per period (``freq``: D, W, M, Q or Y) by document date (diary entry
    dates, panel response dates), else the participant's first date attribute (an interview
    date). Columns: ``period`` (its first day), ``theme_id, label, segments, share`` (of the
    period's segments), ``period_segments`` (the share's base), ``low`` and ``high`` (its 95%
    Wilson score interval) and ``small`` (a period of fewer than
    :data:`~insight.themes.shares.MIN_BASE` segments). Segments with no date are left out.
    """
    from insight.themes.shares import MIN_BASE, wilson_interval

    freqs = {"D": "D", "W": "W", "M": "M", "Q": "Q", "Y": "Y"}
    if freq.upper() not in freqs:
        raise InsightError(f"Unknown period {freq!r}.", hint="Use D, W, M, Q or Y.")
    run_id = resolve_run(con, run_id, study_id)
    data = con.execute(
        """
        SELECT s.segment_id, s.theme_id,
               coalesce(d.doc_date, (SELECT min(a.value_date) FROM attributes a
                                     WHERE a.participant_id = coalesce(g.participant_id, d.participant_id)
                                       AND a.type = 'date')) AS day
        FROM segment_themes s JOIN segments g USING (segment_id) JOIN documents d USING (document_id)
        WHERE s.run_id = ?
        """, [run_id]).df()
    data = data.dropna(subset=["day"])
    columns = ["period", "theme_id", "label", "segments", "share", "period_segments", "low", "high", "small"]
    if data.empty:
        return pd.DataFrame(columns=columns)
    data["period"] = pd.to_datetime(data["day"]).dt.to_period(freqs[freq.upper()]).dt.start_time
    counts = data.groupby(["period", "theme_id"]).size().rename("segments").reset_index()
    counts["period_segments"] = counts["period"].map(data.groupby("period").size()).astype("int64")
    counts["share"] = counts["segments"] / counts["period_segments"]
    counts["low"], counts["high"] = wilson_interval(counts["segments"], counts["period_segments"])
    counts["small"] = counts["period_segments"] < MIN_BASE
    labels = dict(con.execute("SELECT theme_id, label FROM themes WHERE run_id = ?", [run_id]).fetchall())
    counts["label"] = counts["theme_id"].map(labels)
    return counts[columns].sort_values(["period", "theme_id"]).reset_index(drop=True)


def theme_code_overlap(con, run_id: int | None = None, *, coder: str | list[str] | None = None,
                       study_id: int | None = None) -> pd.DataFrame:
    """How much of each theme each code covers: one row per (theme, code) that share a segment,
    with ``segments`` (the theme's segments with a coding of the code that is not rejected, by
    ``coder``, by any of a list of coders, or by anyone), ``pct_of_theme`` and its base
    ``theme_segments``, ``pct_of_code`` (of the code's segments in the run) and its base
    ``code_segments``.
    """
    run_id = resolve_run(con, run_id, study_id)
    if isinstance(coder, str) and not con.execute("SELECT count(*) FROM codings WHERE coder = ?",
                                                  [coder]).fetchone()[0]:
        raise NotFound("coder", coder, [r[0] for r in con.execute("SELECT DISTINCT coder FROM codings ORDER BY 1").fetchall()])
    coders = None if coder is None else [coder] if isinstance(coder, str) else list(coder)
    frame = con.execute(
        """
        WITH coded AS (
            SELECT DISTINCT c.segment_id, c.code FROM coding_segments c
            WHERE c.status <> 'rejected' AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], c.coder))
        ), run AS (SELECT segment_id, theme_id FROM segment_themes WHERE run_id = ?)
        SELECT r.theme_id, t.label, k.code, count(*) AS segments,
               100.0 * count(*) / any_value(ts.n) AS pct_of_theme,
               100.0 * count(*) / any_value(cs.n) AS pct_of_code,
               any_value(ts.n) AS theme_segments, any_value(cs.n) AS code_segments
        FROM run r JOIN coded k USING (segment_id)
        JOIN themes t ON t.run_id = ? AND t.theme_id = r.theme_id
        JOIN (SELECT theme_id, count(*) AS n FROM run GROUP BY theme_id) ts ON ts.theme_id = r.theme_id
        JOIN (SELECT k2.code, count(*) AS n FROM coded k2 JOIN run r2 USING (segment_id) GROUP BY k2.code) cs
             ON cs.code = k.code
        GROUP BY r.theme_id, t.label, k.code
        ORDER BY r.theme_id, segments DESC, k.code
        """, [coders, coders, run_id, run_id]).df()
    return frame


# ---------------------------------------------------------------------------------------------
# The gap finder's candidates


def gap_candidates(con, run_id: int | None = None, *, study_id: int | None = None) -> dict:
    """The candidates of a gaps run (default: the latest): ``{"run_id", "segments", "uncovered",
    "candidates"}`` as :func:`insight.themes.run.find_gaps` returned them."""
    run_id = resolve_run(con, run_id, study_id, step="gaps")
    info = run_info(con, run_id)
    summary = dict(info["summary"])
    candidates = [dict(c) for c in summary.get("candidates", [])]
    for cand, quotes in zip(candidates, current_quotes(con, [c.get("quotes", []) for c in candidates])):
        cand["quotes"] = quotes  # as the segments read now (pseudonymised since, say)
    return {"run_id": run_id, **summary, "candidates": candidates}


def parse_candidate(ref) -> tuple[int | None, int]:
    """``3`` or ``"3"`` -> ``(None, 3)`` (latest gaps run); ``"12:3"`` -> ``(12, 3)``."""
    text = str(ref).strip()
    run, _, cand = text.rpartition(":")
    try:
        return (int(run) if run else None), int(cand)
    except ValueError:
        raise InsightError(f"{text!r} is not a candidate id.",
                           hint="Use the number `insight gaps` shows (or RUN:ID for an older run).") from None


def add_gap_as_code(con, candidate, codebook_name: str, *, name: str | None = None, author: str | None = None,
                    study_id: int | None = None) -> tuple[str, int]:
    """Add a gap-finder candidate to a codebook as a new code, in a new codebook version.

    The code gets a drafted definition ("Segments about ..."), the candidate's keywords and two or
    three of its quotes as examples, for the researcher to edit. Returns ``(codebook, version)``.
    """
    from insight import codebook as cb

    run, number = parse_candidate(candidate)
    data = gap_candidates(con, run, study_id=study_id)
    found = [c for c in data["candidates"] if int(c["id"]) == number]
    if not found:
        raise NotFound("gap candidate", str(number), [str(c["id"]) for c in data["candidates"]])
    cand = found[0]
    book = cb.get(con, codebook_name)
    words = [k for k in cand["keywords"] if k]
    code_name = (name or _code_name(words) or f"Candidate {number}").strip()
    if code_name in book.names():
        if name:
            raise InsightError(f"The codebook {book.name!r} already has a code named {code_name!r}.",
                               hint="Choose another name with --name.")
        base, n = code_name, 2
        while code_name in book.names():
            code_name, n = f"{base} ({n})", n + 1
    about = _listing(words[:4]) or cand["label"]
    quotes = [q["text"] for q in cand["quotes"][:3]]
    book.codes.append(cb.Code(
        name=code_name,
        definition=f"Segments about {about}. Drafted by the gap finder from {cand['size']} segments that no code "
                   f"covered (gaps run {data['run_id']}, candidate {number}); edit before use.",
        include=f"Segments mainly about {about}.",
        exclude="Segments that an existing code already describes better.",
        examples=quotes, keywords=words[:6]))
    version, _ = cb.save(con, book, author=author, note=f"gap finder: added {code_name!r} (gaps run {data['run_id']}, "
                                                         f"candidate {number})")
    return book.name, version


def _listing(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _code_name(words: list[str]) -> str:
    """A code name from the top keywords: "damp · mould" -> "Damp and mould"."""
    from pipelines.themes import make_label

    picked = make_label(words, 2).split(" · ") if words else []
    return _listing(picked).capitalize() if picked and picked[0] else ""
