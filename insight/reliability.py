"""Agreement between any two coders, human or automatic, code by code.

A unit is a segment; a coding is a passage, and counts on every unit it overlaps (one character is
enough: :data:`UNIT_RULE`). Beside the units, agreement on characters (:func:`characters`): of the
characters either coder coded with a code, the share both coded, as MAXQDA and ATLAS.ti offer for
coding by selection. By default agreement is measured on the units both coders looked at
(``coverage``: the rows of a coded spreadsheet its coder coded, the segments an auto-coder ran on,
the segments a human coded in the app); ``all_units=True`` takes every segment of the study,
counting a unit a coder never saw as "no code". The result says how many units each coder saw, how
many both saw and how many only one saw (``coverage``; in words ``coverage_note``,
:func:`coverage_lines`): a second coder who coded a 20% sub-sample leaves 80% of the first coder's
units out, and the figures are on the rest. For each code the two coders' decisions are two 0/1
vectors; from them come Cohen's kappa, Krippendorff's alpha (nominal), percent agreement, and
precision, recall and F1 of coder B against coder A as gold. "Overall" pools every unit × code
decision. 95% intervals come from a bootstrap over units.

The closed forms used (checked against scikit-learn and ``krippendorff`` in the tests), for N
units, a = count of A's 1s, b = B's, ab = both:

- percent agreement p_o = (N - a - b + 2ab) / N
- kappa = (p_o - p_e) / (1 - p_e), p_e = (a/N)(b/N) + (1 - a/N)(1 - b/N)
- alpha = 1 - (2N - 1) * d / (n_0 * n_1), d = a + b - 2ab disagreements, n_1 = a + b, n_0 = 2N - n_1

A figure that is undefined (kappa when both coders are constant and agree, alpha with no variation)
is ``None``.
"""

from __future__ import annotations

import numpy as np

from insight.errors import InsightError, NotFound
from insight.store import frames


def _coder_codings_sql() -> str:
    # A human's rejected suggestions do not count; an auto-coder's rejected suggestions were still
    # its output, so they count for it (they are its false positives).
    return "(c.status <> 'rejected' OR c.method <> 'human')"


def coders(con, study_id: int | None = None) -> list[str]:
    rows = con.execute(
        "SELECT DISTINCT c.coder FROM codings c JOIN documents d USING (document_id) "
        "WHERE ? IS NULL OR d.study_id = ? UNION SELECT DISTINCT v.coder FROM coverage v JOIN segments g USING (segment_id) "
        "JOIN documents d USING (document_id) WHERE ? IS NULL OR d.study_id = ? ORDER BY 1",
        [study_id, study_id, study_id, study_id]).fetchall()
    return [r[0] for r in rows]


def _seen_sql() -> str:
    """The segments a coder (the two ``?``) saw: their coverage and every segment they coded."""
    return ("SELECT v.segment_id FROM coverage v WHERE v.coder = ? "
            "UNION SELECT c.segment_id FROM coding_segments c WHERE c.coder = ? AND " + _coder_codings_sql())


def units(con, coder_a: str, coder_b: str, *, study_id: int | None = None, all_units: bool = False) -> np.ndarray:
    """Segment ids to compare on: those both coders saw, or every segment of the study."""
    if all_units:
        rows = con.execute("SELECT g.segment_id FROM segments g JOIN documents d USING (document_id) "
                           "WHERE ? IS NULL OR d.study_id = ? ORDER BY 1", [study_id, study_id]).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)
    rows = con.execute(
        f"SELECT u.segment_id FROM (({_seen_sql()}) INTERSECT ({_seen_sql()})) u JOIN segments g USING (segment_id) "
        "JOIN documents d USING (document_id) WHERE ? IS NULL OR d.study_id = ? ORDER BY 1",
        [coder_a, coder_a, coder_b, coder_b, study_id, study_id]).fetchall()
    return np.array([r[0] for r in rows], dtype=np.int64)


def seen(con, coder_a: str, coder_b: str, *, study_id: int | None = None) -> dict:
    """How many of the study's segments each coder saw (coded, or had in front of them: ``coverage``),
    how many both saw, only one saw, and neither saw."""
    rows = con.execute(
        f"SELECT g.segment_id IN ({_seen_sql()}) AS a, g.segment_id IN ({_seen_sql()}) AS b, count(*) "
        "FROM segments g JOIN documents d USING (document_id) WHERE ? IS NULL OR d.study_id = ? GROUP BY 1, 2",
        [coder_a, coder_a, coder_b, coder_b, study_id, study_id]).fetchall()
    count = {(a, b): n for a, b, n in rows}
    both, only_a, only_b = count.get((True, True), 0), count.get((True, False), 0), count.get((False, True), 0)
    return {"seen": {coder_a: both + only_a, coder_b: both + only_b}, "both": both,
            "only": {coder_a: only_a, coder_b: only_b}, "neither": count.get((False, False), 0),
            "segments": sum(count.values())}


def _units(n: int) -> str:
    return f"{n:,} unit" + ("" if n == 1 else "s")


ALL_UNITS_HINT = "use --all-units to count a unit a coder never saw as no code"


def coverage_lines(result: dict, all_units_hint: str = ALL_UNITS_HINT) -> list[str]:
    """What the figures were measured on, in words: who saw how many units, which were left out (or,
    with every unit, counted as no code) and why. ``all_units_hint`` says how to count every unit
    where the reader is (the CLI's flag by default)."""
    a, b = result["coders"]
    c = result["coverage"]
    only_a, only_b = c["only"][a], c["only"][b]
    lines = [f"{a} coded (looked at) {_units(c['seen'][a])}, {b} {c['seen'][b]:,}; both {c['both']:,}."]
    if result["units"] == "all":
        counted = [f"{_units(only_a)} only {a} saw" * bool(only_a), f"{_units(only_b)} only {b} saw" * bool(only_b),
                   f"{_units(c['neither'])} neither saw" * bool(c["neither"])]
        if any(counted):
            lines.append("Counted as no code from a coder who never saw them: " + ", ".join(p for p in counted if p)
                         + ".")
    elif only_a or only_b:
        lines.append(f"{_units(only_a)} only {a} saw, {only_b:,} only {b} saw: left out (a coder who never saw a "
                     f"unit did not code it); {all_units_hint}.")
    else:
        lines.append("Nothing left out: every unit either coder saw, both saw.")
    return lines


def decisions(con, coder: str, unit_ids: np.ndarray, codes: list[str]) -> np.ndarray:
    """A units × codes 0/1 matrix of ``coder``'s codings: 1 where one of the coder's passages of the
    code overlaps the unit (by one character or more)."""
    import pandas as pd

    matrix = np.zeros((len(unit_ids), len(codes)), dtype=np.int8)
    if not len(unit_ids) or not codes:
        return matrix
    with frames(con, _insight_units=pd.DataFrame({"segment_id": unit_ids, "row": np.arange(len(unit_ids))}),
                _insight_codes=pd.DataFrame({"code": codes, "col": np.arange(len(codes))})):
        pairs = con.execute(
            "SELECT DISTINCT u.row, k.col FROM coding_segments c JOIN _insight_units u USING (segment_id) "
            f"JOIN _insight_codes k USING (code) WHERE c.coder = ? AND {_coder_codings_sql()}", [coder]).fetchnumpy()
    matrix[pairs["row"].astype(np.int64), pairs["col"].astype(np.int64)] = 1
    return matrix


def figures(n, a, b, ab) -> dict[str, np.ndarray]:
    """Every figure from counts (arrays broadcast): see the module docstring for the formulas."""
    n, a, b, ab = (np.asarray(x, dtype=np.float64) for x in (n, a, b, ab))
    with np.errstate(divide="ignore", invalid="ignore"):
        po = (n - a - b + 2 * ab) / n
        pa, pb = a / n, b / n
        pe = pa * pb + (1 - pa) * (1 - pb)
        kappa = np.where(pe < 1, (po - pe) / (1 - pe), np.nan)
        d = a + b - 2 * ab
        n1 = a + b
        n0 = 2 * n - n1
        alpha = np.where(n0 * n1 > 0, 1 - (2 * n - 1) * d / (n0 * n1), np.nan)
        precision = np.where(b > 0, ab / b, np.nan)
        recall = np.where(a > 0, ab / a, np.nan)
        f1 = np.where(a + b > 0, 2 * ab / (a + b), np.nan)
    return {"kappa": kappa, "alpha": alpha, "percent_agreement": po, "precision": precision, "recall": recall, "f1": f1}


def _clean(x) -> float | None:
    x = float(x)
    return None if np.isnan(x) else round(x, 4)


def compare(a: np.ndarray, b: np.ndarray, codes: list[str], *, bootstrap: int = 1000, seed: int = 0) -> dict:
    """Agreement of two units × codes 0/1 matrices; B is judged against A as gold."""
    n_units = a.shape[0]
    a = a.astype(np.float32)
    b = b.astype(np.float32)
    ab = a * b
    sums = {"a": a.sum(0), "b": b.sum(0), "ab": ab.sum(0)}
    per_code = figures(n_units, sums["a"], sums["b"], sums["ab"])
    overall = figures(n_units * len(codes), sums["a"].sum(), sums["b"].sum(), sums["ab"].sum())
    intervals: dict[str, np.ndarray] = {}
    overall_ci: dict[str, tuple] = {}
    if bootstrap and n_units > 1:
        rng = np.random.default_rng(seed)
        reps = int(min(bootstrap, max(100, 2e8 // max(1, n_units * max(1, len(codes))))))
        weights = rng.poisson(1.0, size=(reps, n_units)).astype(np.float32)
        total = weights.sum(1, keepdims=True)
        boot = figures(total, weights @ a, weights @ b, weights @ ab)
        boot_overall = figures(total[:, 0] * len(codes), (weights @ a).sum(1), (weights @ b).sum(1),
                               (weights @ ab).sum(1))
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: a figure undefined throughout
            for key, values in boot.items():
                intervals[key] = np.nanpercentile(values, [2.5, 97.5], axis=0) if np.isfinite(values).any() else None
        for key, values in boot_overall.items():
            finite = values[np.isfinite(values)]
            overall_ci[key] = (_clean(np.percentile(finite, 2.5)), _clean(np.percentile(finite, 97.5))) if len(finite) else None
    rows = []
    for j, code in enumerate(codes):
        row = {"code": code, "n_units": n_units, "a_count": int(sums["a"][j]), "b_count": int(sums["b"][j]),
               "both": int(sums["ab"][j])}
        for key, values in per_code.items():
            row[key] = _clean(values[j])
            ci = intervals.get(key)
            row[f"{key}_ci"] = None if ci is None or not np.isfinite(ci[:, j]).all() else [_clean(ci[0, j]), _clean(ci[1, j])]
        rows.append(row)
    summary = {key: _clean(value) for key, value in overall.items()}
    summary.update({f"{key}_ci": ci for key, ci in overall_ci.items()})
    summary["n_units"] = n_units
    summary["n_decisions"] = n_units * len(codes)
    summary["mean_kappa"] = _clean(np.nanmean(per_code["kappa"])) if np.isfinite(per_code["kappa"]).any() else None
    return {"overall": summary, "codes": rows}


def agreement(con, coder_a: str, coder_b: str, *, study_id: int | None = None, all_units: bool = False,
              codes: list[str] | None = None, bootstrap: int = 1000, seed: int = 0) -> dict:
    """Agreement between ``coder_a`` (as gold) and ``coder_b``; see the module docstring."""
    known = coders(con, study_id)
    for coder in (coder_a, coder_b):
        if coder not in known:
            raise NotFound("coder", coder, known)
    unit_ids = units(con, coder_a, coder_b, study_id=study_id, all_units=all_units)
    if not len(unit_ids):
        raise InsightError(f"{coder_a!r} and {coder_b!r} have no units in common.",
                           hint="Use --all-units to compare on every segment (a unit a coder never saw counts as "
                                "no code).")
    if codes is None:
        import pandas as pd

        with frames(con, _insight_units=pd.DataFrame({"segment_id": unit_ids})):
            codes = [r[0] for r in con.execute(
                "SELECT DISTINCT c.code FROM coding_segments c JOIN _insight_units USING (segment_id) "
                f"WHERE c.coder IN (?, ?) AND {_coder_codings_sql()} ORDER BY 1", [coder_a, coder_b]).fetchall()]
    a = decisions(con, coder_a, unit_ids, codes)
    b = decisions(con, coder_b, unit_ids, codes)
    result = compare(a, b, codes, bootstrap=bootstrap, seed=seed)
    result.update({"coders": [coder_a, coder_b], "gold": coder_a, "units": "all" if all_units else "both saw",
                   "unit_rule": UNIT_RULE, "characters": characters(con, coder_a, coder_b, unit_ids, codes),
                   "character_rule": CHARACTER_RULE, "coverage": seen(con, coder_a, coder_b, study_id=study_id)})
    result["coverage_note"] = " ".join(coverage_lines(result))
    return result


UNIT_RULE = ("A unit (segment) counts as coded with a code by a coder when one of that coder's passages of the code "
             "overlaps it by at least one character.")
CHARACTER_RULE = ("On characters: of the characters of the compared units that either coder coded with the code, "
                  "the share both coded (overlap = both / either).")


def characters(con, coder_a: str, coder_b: str, unit_ids: np.ndarray, codes: list[str]) -> list[dict]:
    """Agreement on characters, per code (see :data:`CHARACTER_RULE`): the characters each coder
    coded within the compared units, those both coded, and overlap = both / either.

    Each coder's passages of a code are cut to the compared units and merged where they overlap
    (gaps and islands), so a character coded twice by one coder counts once; "both" is the
    overlap of the two coders' merged ranges."""
    import pandas as pd

    if not len(unit_ids) or not codes:
        return []
    with frames(con, _insight_units=pd.DataFrame({"segment_id": unit_ids})):
        rows = con.execute(f"""
            WITH spans AS (
                SELECT c.coder, c.code, c.document_id, greatest(c.start, g.start) AS a, least(c."end", g."end") AS b
                FROM coding_segments c JOIN _insight_units USING (segment_id) JOIN segments g USING (segment_id)
                WHERE c.coder IN (?, ?) AND list_contains(?, c.code) AND {_coder_codings_sql()}
            ), marked AS (
                SELECT *, CASE WHEN a <= max(b) OVER (PARTITION BY coder, code, document_id ORDER BY a, b
                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) THEN 0 ELSE 1 END AS starts
                FROM spans
            ), islands AS (
                SELECT *, sum(starts) OVER (PARTITION BY coder, code, document_id ORDER BY a, b
                                            ROWS UNBOUNDED PRECEDING) AS island FROM marked
            ), merged AS (
                SELECT coder, code, document_id, min(a) AS a, max(b) AS b FROM islands
                GROUP BY coder, code, document_id, island
            ), own AS (
                SELECT code, sum(b - a) FILTER (WHERE coder = ?) AS a_chars,
                       sum(b - a) FILTER (WHERE coder = ?) AS b_chars FROM merged GROUP BY code
            ), shared AS (
                SELECT x.code, sum(least(x.b, y.b) - greatest(x.a, y.a)) AS both_chars
                FROM merged x JOIN merged y ON x.code = y.code AND x.document_id = y.document_id
                     AND x.coder = ? AND y.coder = ? AND x.a < y.b AND y.a < x.b
                GROUP BY x.code
            )
            SELECT own.code, coalesce(a_chars, 0), coalesce(b_chars, 0), coalesce(both_chars, 0)
            FROM own LEFT JOIN shared USING (code)""",
            [coder_a, coder_b, list(codes), coder_a, coder_b, coder_a, coder_b]).fetchall()
    found = {code: (int(a), int(b), int(both)) for code, a, b, both in rows}
    out = []
    for code in codes:
        count_a, count_b, both = found.get(code, (0, 0, 0))
        either = count_a + count_b - both
        out.append({"code": code, "a_chars": count_a, "b_chars": count_b, "both_chars": both, "either_chars": either,
                    "overlap": round(both / either, 4) if either else None})
    return out


def disagreements(con, coder_a: str, coder_b: str, code: str, *, study_id: int | None = None,
                  all_units: bool = False):
    """The units where the two coders differ on ``code``, with their text and who applied it."""
    import pandas as pd

    unit_ids = units(con, coder_a, coder_b, study_id=study_id, all_units=all_units)
    a = decisions(con, coder_a, unit_ids, [code])[:, 0]
    b = decisions(con, coder_b, unit_ids, [code])[:, 0]
    differ = unit_ids[a != b]
    by = np.where(a[a != b] == 1, coder_a, coder_b)
    with frames(con, _insight_units=pd.DataFrame({"segment_id": differ, "by": by})):
        return con.execute(
            "SELECT u.segment_id, u.by AS coded_by_only, d.title AS document, g.speaker, g.text "
            "FROM _insight_units u JOIN segments g USING (segment_id) JOIN documents d USING (document_id) "
            "ORDER BY u.segment_id").df()
