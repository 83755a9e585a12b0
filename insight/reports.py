"""Reports for people: quotes per code or theme, the framework matrix, co-occurrence and crosstabs.

Reads the same tables as :mod:`insight.export` and writes only the file it is asked for. Every
quote is attributed to its participant (pseudonym when there is one, else name, else id) and its
document; every table can be recomputed from the long coded dataset with pandas.

- :func:`quotes_report`: Markdown, HTML or DOCX, one section per code (codebook order, with its
  definition) or per theme (latest theme run, with keywords and size).
- :func:`framework_matrix`: XLSX, participants by codes, each cell the count and the quotes (the
  framework method of UK policy research), plus a sheet of counts alone.
- :func:`cooccurrence`: codes by codes, the number of segments coded with both (the diagonal: with
  the code); XLSX adds the Jaccard index.
- :func:`crosstab`: codes by the values of one participant attribute, counts and column
  percentages of the column's base (participants, or segments, in that group); a participant can
  carry several codes, so a column can add up to more than 100%.
"""

from __future__ import annotations

import html
import os
import re
from datetime import datetime
from pathlib import Path

from insight.errors import InsightError, NotFound
from insight.files import CSV_ENCODING, atomic, neutralise_frame, settings_frame, write_xlsx
from insight.selection import Scope, attribute_names, latest_theme_run, ordered_codes, overlaps, participant_label_sql

REPORT_FORMATS = ("md", "html", "docx")
DEFAULT_REPORT_QUOTES = 50
DEFAULT_FRAMEWORK_QUOTES = 10
MISSING = "(missing)"
NO_PARTICIPANT = "(no participant)"


# ---------------------------------------------------------------------------------------------
# Quotes


def _keys_sql(con, scope: Scope, per: str) -> tuple[str, list, list[str], str]:
    """The quotes in scope without their text (cheap to count, rank and cut): a query with
    ``group``, ``segment_id``, ``document_id``, ``pid``, ``quote_start``, ``quote_end``, ``c_start``,
    ``c_end`` and ``coders`` or ``theme_id``/``probability``; its parameters; the order to read
    quotes in; the extra columns to show."""
    if per == "code":
        cod_sql, params = scope.codings_sql()
        # a quote is the coded passage; it belongs to the first segment it touches (its speaker,
        # its participant)
        sql = f"""
            SELECT c.code AS "group", g.segment_id, c.document_id, coalesce(g.participant_id, d.participant_id) AS pid,
                   c.start AS quote_start, c."end" AS quote_end, c.start AS c_start, c."end" AS c_end, c.coders
            FROM (SELECT code, document_id, start, "end", string_agg(DISTINCT coder, ', ' ORDER BY coder) AS coders
                  FROM ({cod_sql}) GROUP BY code, document_id, start, "end") c
            JOIN documents d ON d.document_id = c.document_id
            LEFT JOIN segments g ON g.segment_id = (SELECT arg_min(s.segment_id, s.ordinal) FROM segments s
                                                    WHERE s.document_id = c.document_id AND s."end" > c.start)
        """
        return sql, params, ["document_id", "quote_start", "quote_end"], "k.coders"
    if per == "theme":
        run = latest_theme_run(con, scope.study_id)
        if run is None:
            raise InsightError(f"Study {scope.study!r} has no theme run yet, so there are no themes to report.",
                               hint="Run theme discovery first (insight themes), or use --per code.")
        sql = """
            SELECT coalesce(nullif(th.label, ''), 'Theme ' || st.theme_id) AS "group", st.segment_id, g.document_id,
                   coalesce(g.participant_id, d.participant_id) AS pid, g.start AS quote_start, g."end" AS quote_end,
                   NULL::INTEGER AS c_start, NULL::INTEGER AS c_end, st.theme_id, st.probability
            FROM segment_themes st JOIN segments g ON g.segment_id = st.segment_id
            JOIN documents d ON d.document_id = g.document_id
            LEFT JOIN themes th ON th.run_id = st.run_id AND th.theme_id = st.theme_id
            WHERE st.run_id = ? AND d.study_id = ?
        """
        return sql, [run, scope.study_id], ["probability DESC NULLS LAST", "document_id", "quote_start"], \
            "k.theme_id, k.probability"
    raise InsightError(f"Unknown report grouping {per!r}.", hint="Use --per code or --per theme.")


def quotes(con, scope: Scope, per: str = "code", *, limit: int | None = None, within: tuple[str, ...] = ("group",)):
    """The quotes in scope as a DataFrame: ``group`` (code or theme), ``quote``, ``participant``
    (label), ``participant_id``, ``document``, ``speaker``, and ``coders`` (codes) or
    ``theme_id``/``probability`` (themes); at most ``limit`` per value of the ``within`` columns
    (``group``, ``pid``: the participant).

    A code quotes exactly the passage coded (however many segments it crosses); the same passage
    coded by several coders is one quote naming them all. Themes list their most probable segments first.
    """
    sql, params, order, extra = _keys_sql(con, scope, per)
    keys = ", ".join(f'"{c}"' for c in within)
    keep = (f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {', '.join(order)}) <= {int(limit)}"
            if limit else "")
    return con.execute(f"""
        SELECT k."group", {participant_label_sql()} AS participant, p.external_id AS participant_id,
               d.title AS document, k.document_id, k.segment_id, g.speaker, k.quote_start, k.quote_end,
               substring(d.text, k.quote_start + 1, k.quote_end - k.quote_start) AS quote, {extra}
        FROM (SELECT * FROM ({sql}) {keep}) k LEFT JOIN segments g ON g.segment_id = k.segment_id
        JOIN documents d ON d.document_id = k.document_id LEFT JOIN participants p ON p.participant_id = k.pid
        ORDER BY {", ".join([f'k."{c}"' for c in within] + [f"k.{term}" for term in order])}""", params).df()


def quote_counts(con, scope: Scope, per: str = "code", by: tuple[str, ...] = ("group",)):
    """Per value of ``by`` (``group``, ``pid``): ``quotes``, distinct ``participants`` and
    ``documents``; with ``pid``, also the participant's ``participant_id`` (external id)."""
    sql, params, _, _ = _keys_sql(con, scope, per)
    keys = ", ".join(f'k."{c}"' for c in by)
    external = ", p.external_id AS participant_id" if "pid" in by else ""
    join = "LEFT JOIN participants p ON p.participant_id = k.pid" if "pid" in by else ""
    return con.execute(f"SELECT {keys}{external}, count(*) AS quotes, count(DISTINCT k.pid) AS participants, "
                       f"count(DISTINCT k.document_id) AS documents FROM ({sql}) k {join} "
                       f"GROUP BY ALL", params).df()


def _groups(con, scope: Scope, per: str, limit: int | None) -> list[dict]:
    """Sections of a quotes report: name, notes to show under the heading, counts and quotes."""
    frame = quotes(con, scope, per, limit=limit)
    counts = quote_counts(con, scope, per).set_index("group")
    if per == "code":
        codes = {c.name: c for c in (scope.codebook.codes if scope.codebook is not None else [])}
        order = ordered_codes(scope, counts.index)
    else:
        ids = frame.drop_duplicates("group").set_index("group")["theme_id"]
        order = sorted(counts.index, key=lambda g: (ids[g] < 0, ids[g]))
        themes = {r[0]: r[1:] for r in con.execute(
            "SELECT theme_id, keywords, size FROM themes WHERE run_id = ?",
            [latest_theme_run(con, scope.study_id)]).fetchall()}
    grouped = dict(tuple(frame.groupby("group", sort=False)))
    sections = []
    for name in order:
        rows = grouped.get(name, frame.iloc[0:0])
        notes = []
        if per == "code" and name in codes:
            code = codes[name]
            if code.parent:
                notes.append(("Under", code.parent))
            for key in ("definition", "include", "exclude"):
                if getattr(code, key):
                    notes.append((key.capitalize(), getattr(code, key)))
        elif per == "theme":
            keywords, size = themes.get(int(ids[name]), (None, None))
            if keywords:
                words = keywords if isinstance(keywords, str) else ", ".join(keywords)
                notes.append(("Keywords", _keywords(words)))
            if size is not None:
                notes.append(("Size", f"{size} segments"))
        total = counts.loc[name] if name in counts.index else {"quotes": 0, "participants": 0, "documents": 0}
        sections.append({"name": name, "notes": notes, "total": int(total["quotes"]),
                         "participants": int(total["participants"]), "documents": int(total["documents"]),
                         "quotes": rows})
    return sections


def _keywords(value: str) -> str:
    import json

    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return value
    return ", ".join(str(w[0] if isinstance(w, list) else w) for w in data) if isinstance(data, list) else value


def _attribution(row, per: str) -> str:
    who = row["participant"] if isinstance(row["participant"], str) else NO_PARTICIPANT
    speaker = row["speaker"]
    if isinstance(speaker, str) and speaker and speaker != who:
        who += f" ({speaker})"
    out = f"{who}, {row['document']}"
    if per == "code" and isinstance(row.get("coders"), str):
        out += f"; coded by {row['coders']}"
    return out


def quotes_report(con, scope: Scope, out: str | os.PathLike, *, per: str = "code", fmt: str | None = None,
                  max_quotes: int | None = None) -> dict:
    """Write a quotes report per code or per theme as Markdown, HTML or DOCX (``fmt``, default from
    the suffix of ``out``); ``max_quotes`` per section (default 50; 0 for all)."""
    out = Path(out)
    fmt = fmt or {".html": "html", ".htm": "html", ".docx": "docx"}.get(out.suffix.lower(), "md")
    if fmt not in REPORT_FORMATS:
        raise InsightError(f"Unknown report format {fmt!r}.", hint="Use --report-format md, html or docx.")
    limit = DEFAULT_REPORT_QUOTES if max_quotes is None else max_quotes
    sections = _groups(con, scope, per, limit)
    title = f"Quotes by {per}: {scope.study}"
    settings = scope.settings() if per == "code" else {"study": scope.study,
                                                       "theme run": latest_theme_run(con, scope.study_id)}
    intro = "; ".join(f"{k}: {v}" for k, v in settings.items())
    intro += f". Generated {datetime.now():%Y-%m-%d %H:%M} by Insight."
    {"md": _markdown, "html": _html, "docx": _docx}[fmt](out, title, intro, sections, per)
    return {"out": str(out), "format": "report", "report_format": fmt, "per": per, "sections": len(sections),
            "quotes": int(sum(s["total"] for s in sections)), **settings}


def _counts_line(section: dict) -> str:
    shown = len(section["quotes"])
    line = (f"{section['total']} quote{'s' * (section['total'] != 1)} from {section['participants']} "
            f"participant{'s' * (section['participants'] != 1)} in {section['documents']} "
            f"document{'s' * (section['documents'] != 1)}")
    if shown < section["total"]:
        line += f" (the first {shown} shown)"
    return line


def _md_escape(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", text)


def _markdown(out: Path, title: str, intro: str, sections: list[dict], per: str) -> None:
    lines = [f"# {_md_escape(title)}", "", _md_escape(intro), ""]
    for section in sections:
        lines += [f"## {_md_escape(section['name'])}", ""]
        for key, value in section["notes"]:
            lines += [f"**{key}:** {_md_escape(value)}", ""]
        lines += [f"*{_counts_line(section)}*", ""]
        for _, row in section["quotes"].iterrows():
            body = [f"> {_md_escape(line)}" if line.strip() else ">" for line in str(row["quote"]).split("\n")]
            lines += body + [">", f"> — {_md_escape(_attribution(row, per))}", ""]
    with atomic(out) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")


_CSS = """body{font-family:system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#222}
blockquote{margin:1rem 0;padding:.5rem 1rem;border-left:4px solid #8aa;background:#f6f8f8;white-space:pre-wrap}
.who{display:block;margin-top:.4rem;font-size:.9em;color:#555;white-space:normal}
.counts{color:#555;font-style:italic}dt{font-weight:600}dd{margin:0 0 .5rem 1rem}"""


def _html(out: Path, title: str, intro: str, sections: list[dict], per: str) -> None:
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{esc(title)}</h1>", f"<p>{esc(intro)}</p>"]
    for section in sections:
        parts.append(f"<section><h2>{esc(section['name'])}</h2>")
        if section["notes"]:
            parts.append("<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in section["notes"]) + "</dl>")
        parts.append(f'<p class="counts">{esc(_counts_line(section))}</p>')
        for _, row in section["quotes"].iterrows():
            parts.append(f"<blockquote>{esc(str(row['quote']))}"
                         f'<span class="who">— {esc(_attribution(row, per))}</span></blockquote>')
        parts.append("</section>")
    parts.append("</body></html>")
    with atomic(out) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")


def _docx(out: Path, title: str, intro: str, sections: list[dict], per: str) -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.add_heading(title, level=1)
    document.add_paragraph(_docx_safe(intro))
    for section in sections:
        document.add_heading(_docx_safe(section["name"]), level=2)
        for key, value in section["notes"]:
            paragraph = document.add_paragraph()
            paragraph.add_run(f"{key}: ").bold = True
            paragraph.add_run(_docx_safe(value))
        document.add_paragraph().add_run(_counts_line(section)).italic = True
        for _, row in section["quotes"].iterrows():
            document.add_paragraph(_docx_safe(str(row["quote"])), style="Quote")
            document.add_paragraph("— " + _docx_safe(_attribution(row, per)))
    with atomic(out) as tmp:
        document.save(tmp)


def _docx_safe(text: str) -> str:
    """Word's XML cannot hold most control characters; drop them."""
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", text)


# ---------------------------------------------------------------------------------------------
# Framework matrix


def framework_matrix(con, scope: Scope, out: str | os.PathLike, *, max_quotes: int | None = None) -> dict:
    """Write participants x codes to XLSX: sheet ``framework`` (each cell the count and up to
    ``max_quotes`` quotes with their documents; default 10, 0 for all), ``counts`` (numbers only)
    and ``settings``. Every participant of the study has a row; quotes from segments with no
    participant go in a ``(no participant)`` row."""
    import pandas as pd

    limit = DEFAULT_FRAMEWORK_QUOTES if max_quotes is None else max_quotes
    sql, params, order, _ = _keys_sql(con, scope, "code")
    cells = con.execute(f"""
        WITH ranked AS (SELECT k.*, row_number() OVER (PARTITION BY pid, "group" ORDER BY {', '.join(order)}) AS rn,
                               count(*) OVER (PARTITION BY pid, "group") AS n FROM ({sql}) k)
        SELECT coalesce(p.external_id, ?) AS participant_id, r."group", any_value(r.n) AS n, count(*) AS shown,
               string_agg('• ' || substring(d.text, r.quote_start + 1, r.quote_end - r.quote_start)
                          || ' (' || d.title || ')', chr(10) ORDER BY r.rn) AS quotes
        FROM ranked r JOIN documents d ON d.document_id = r.document_id
        LEFT JOIN participants p ON p.participant_id = r.pid
        WHERE r.rn <= ? GROUP BY ALL""", params + [NO_PARTICIPANT, limit or 2**62]).df()
    people = _participants(con, scope)
    if (cells["participant_id"] == NO_PARTICIPANT).any():
        people = pd.concat([people, pd.DataFrame({"id": [NO_PARTICIPANT], "participant": [NO_PARTICIPANT]})],
                           ignore_index=True)
    codes = ordered_codes(scope, cells["group"].unique())
    more = [f"\n… and {m} more" if m else "" for m in cells["n"] - cells["shown"]]
    cells["cell"] = [f"n = {n}\n{text}{tail}" for n, text, tail in zip(cells["n"], cells["quotes"], more)]
    cells = cells.set_index(["participant_id", "group"])
    grid = cells["n"].unstack("group").reindex(index=people["id"], columns=codes).fillna(0).astype(int)
    cell_grid = cells["cell"].unstack("group").reindex(index=people["id"], columns=codes).fillna("")
    left = people.set_index("id")
    matrix = left.join(cell_grid).reset_index()
    number_sheet = left.join(grid).reset_index()
    settings = {**scope.settings(), "cells": f"count of quotes, then up to {limit or 'all'} quotes (document)",
                "rows": "every participant of the study; segments without one go in '(no participant)'",
                "exported": datetime.now().isoformat(timespec="seconds")}
    from openpyxl.utils import get_column_letter

    widths = {"framework": {get_column_letter(i + 1): 60 for i in range(len(left.columns) + 1, matrix.shape[1])}}
    write_xlsx(Path(out), {"framework": matrix, "counts": number_sheet, "settings": settings_frame(settings)},
               widths=widths, wrap=("framework",))
    return {"out": str(out), "format": "framework", "participants": len(people), "codes": len(codes),
            "quotes": int(grid.to_numpy().sum()), **scope.settings()}


def _participants(con, scope: Scope):
    """One row per participant: ``id``, ``participant`` (label) and one column per attribute."""
    label = participant_label_sql()
    people = con.execute(f"SELECT p.participant_id, p.external_id AS id, {label} AS participant FROM participants p "
                         "WHERE p.study_id = ? ORDER BY p.participant_id", [scope.study_id]).df()
    attrs = con.execute("SELECT a.participant_id, a.name, a.value FROM attributes a JOIN participants p "
                        "USING (participant_id) WHERE p.study_id = ?", [scope.study_id]).df()
    if not attrs.empty:
        order = [n for n, _ in attribute_names(con, scope.study_id)]
        wide = attrs.pivot(index="participant_id", columns="name", values="value").reindex(columns=order)
        wide.columns = [c if c not in ("id", "participant") else f"attr_{c}" for c in wide.columns]
        people = people.merge(wide.reset_index(), on="participant_id", how="left")
    return people.drop(columns="participant_id")


# ---------------------------------------------------------------------------------------------
# Co-occurrence and crosstab


def cooccurrence(con, scope: Scope):
    """Codes x codes: how many segments carry both codes (by the coders and statuses in scope);
    the diagonal is the number of segments with the code."""
    cod_sql, params = scope.codings_sql()
    pairs = con.execute(f"""
        WITH t AS (SELECT DISTINCT g.segment_id, c.code FROM ({cod_sql}) c JOIN segments g ON {overlaps()})
        SELECT a.code AS code_a, b.code AS code_b, count(*) AS n
        FROM t a JOIN t b ON a.segment_id = b.segment_id GROUP BY ALL""", params).df()
    codes = ordered_codes(scope, pairs["code_a"].unique())
    matrix = pairs.pivot(index="code_a", columns="code_b", values="n") if len(pairs) else None
    import pandas as pd

    if matrix is None:
        matrix = pd.DataFrame(index=codes, columns=codes)
    matrix = matrix.reindex(index=codes, columns=codes).fillna(0).astype(int)
    matrix.index.name = "code"
    matrix.columns.name = None
    return matrix


def write_cooccurrence(con, scope: Scope, out: str | os.PathLike) -> dict:
    """Co-occurrence to ``out``: XLSX (counts, Jaccard index, settings) or CSV (counts)."""
    import numpy as np

    out = Path(out)
    matrix = cooccurrence(con, scope)
    settings = {**scope.settings(), "cells": "segments coded with both codes (diagonal: with the code)",
                "exported": datetime.now().isoformat(timespec="seconds")}
    if out.suffix.lower() == ".xlsx":
        diag = np.diag(matrix.to_numpy())
        union = diag[:, None] + diag[None, :] - matrix.to_numpy()
        jaccard = matrix.copy().astype(float)
        jaccard[:] = np.round(np.divide(matrix.to_numpy(), union, out=np.zeros(union.shape), where=union > 0), 3)
        write_xlsx(out, {"co-occurrence": matrix.reset_index(), "jaccard": jaccard.reset_index(),
                         "settings": settings_frame(settings)})
    else:
        _write_csv_frame(matrix.reset_index(), out)
    return {"out": str(out), "format": "cooccurrence", "codes": len(matrix), **scope.settings()}


def _write_csv_frame(frame, out: Path) -> None:
    with atomic(out) as tmp:
        neutralise_frame(frame).to_csv(tmp, index=False, encoding=CSV_ENCODING)


def crosstab(con, scope: Scope, by: str, unit: str = "participants"):
    """Codes (rows) by the values of attribute ``by`` (columns, plus ``All``).

    Returns ``(counts, percents, base)``: ``counts`` of participants (``unit='participants'``) or
    segments (``'segments'``) in each group with the code; ``base`` the group's participants with
    any text (or its segments); ``percents`` = 100 * counts / base, to one decimal.
    """
    if unit not in ("participants", "segments"):
        raise InsightError(f"Unknown crosstab unit {unit!r}.", hint="Use participants or segments.")
    attrs = dict(attribute_names(con, scope.study_id))
    if by not in attrs:
        raise NotFound("attribute", by, list(attrs))
    values = con.execute(
        "SELECT p.participant_id AS pid, a.value FROM participants p LEFT JOIN attributes a "
        "ON a.participant_id = p.participant_id AND a.name = ? WHERE p.study_id = ?", [by, scope.study_id]).df()
    values["value"] = values["value"].astype(object).where(values["value"].notna(), MISSING)
    seg_pid = "coalesce(g.participant_id, d.participant_id)"
    units = con.execute(
        f"SELECT DISTINCT {seg_pid} AS pid{', g.segment_id' if unit == 'segments' else ''} FROM segments g "
        f"JOIN documents d USING (document_id) WHERE d.study_id = ? AND {seg_pid} IS NOT NULL", [scope.study_id]).df()
    cod_sql, params = scope.codings_sql()
    coded = con.execute(
        f"SELECT DISTINCT {seg_pid} AS pid{', g.segment_id' if unit == 'segments' else ''}, c.code FROM ({cod_sql}) c "
        f"JOIN segments g ON {overlaps()} JOIN documents d ON d.document_id = g.document_id "
        f"WHERE {seg_pid} IS NOT NULL", params).df()
    units = units.merge(values, on="pid", how="left")
    coded = coded.merge(values, on="pid", how="left")
    order = _value_order(units["value"].unique(), attrs[by])
    codes = ordered_codes(scope, coded["code"].unique())
    base = units.groupby("value").size().reindex(order, fill_value=0)
    base["All"] = len(units)
    counts = coded.groupby(["code", "value"]).size().unstack("value", fill_value=0)
    counts = counts.reindex(index=codes, columns=order, fill_value=0)
    counts["All"] = coded.groupby("code").size().reindex(codes, fill_value=0)
    counts = counts.fillna(0).astype(int)
    percents = (counts.div(base.where(base > 0)) * 100).round(1)
    counts.index.name = percents.index.name = "code"
    counts.columns.name = percents.columns.name = None
    base.name = "base"
    return counts, percents, base


def _value_order(values, kind: str) -> list:
    present = [v for v in values if v != MISSING]
    if kind == "number":
        def key(v):
            try:
                return (0, float(str(v).replace(",", "")), "")
            except ValueError:
                return (1, 0.0, str(v))
        present.sort(key=key)
    else:
        present.sort(key=lambda v: [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(v))])
    return present + ([MISSING] if MISSING in values else [])


def write_crosstab(con, scope: Scope, out: str | os.PathLike, *, by: str, unit: str = "participants") -> dict:
    """The crosstab to ``out``: XLSX (sheets counts, column %, settings) or CSV (``VALUE n`` and
    ``VALUE %`` columns side by side); the first row is the base of each column."""
    import pandas as pd

    out = Path(out)
    counts, percents, base = crosstab(con, scope, by, unit)
    settings = {**scope.settings(), "by": by, "unit": unit,
                "counts": f"{unit} in the column's group with the code",
                "column %": f"100 x count / base, the base being the group's {unit} (one {unit[:-1]} can carry "
                            "several codes, so a column can add up to more than 100%)",
                "exported": datetime.now().isoformat(timespec="seconds")}
    base_row = pd.DataFrame([base.to_numpy()], columns=counts.columns, index=pd.Index([f"base ({unit})"], name="code"))
    if out.suffix.lower() == ".xlsx":
        write_xlsx(out, {"counts": pd.concat([base_row, counts]).reset_index(),
                         "column %": pd.concat([base_row, percents]).reset_index(),
                         "settings": settings_frame(settings)})
    else:
        both = pd.DataFrame(index=counts.index)
        for column in counts.columns:
            both[f"{column} n"] = counts[column]
            both[f"{column} %"] = percents[column]
        top = pd.DataFrame({**{f"{c} n": [base[c]] for c in counts.columns},
                            **{f"{c} %": [None] for c in counts.columns}},
                           index=pd.Index([f"base ({unit})"], name="code"))[both.columns]
        _write_csv_frame(pd.concat([top, both]).reset_index(), out)
    return {"out": str(out), "format": "crosstab", "by": by, "unit": unit, "codes": len(counts),
            "groups": [str(c) for c in counts.columns if c != "All"], **scope.settings()}
