"""Codebook tests: a codebook is tested like code.

Each code's examples are test cases that the auto-coder must code with it, and its
counter-examples cases it must not (examples are scored leave-one-out, so an example never matches
itself). With a gold coder, the auto-coder's decisions on the units the gold coder saw give
precision, recall, F1, kappa and alpha per code, out of fold: the classifier is cross-validated and
the semantic thresholds are chosen on the other folds. Folds are whole documents (interviews,
diaries, field notes) and whole respondents (panel answers), so no document or respondent is on
both sides of a fold (``folds_by``): the figures say how well the codebook codes the next
interview, not the rest of this one. A code passes when every example and
counter-example passes and, with a gold coder, its F1 reaches ``min_f1`` (codes the gold coder
never used pass that part when the auto-coder does not use them either).

With a gold coder the report also says, per method, how far its scores are from probabilities
(``calibration``): each method's scores calibrated as ``insight code --train-coder`` does
(isotonic, cross-fitted by the same groups), the reliability diagram's points and the expected
calibration error over the gold coder's units.
"""

from __future__ import annotations

import time

import numpy as np

from insight.codebook import Codebook
from insight.coding.units import gold_labels, load_units, setting, text_units

MAX_QUOTES = 5
_CALIBRATION: dict[str, np.ndarray] = {}  # digest of (a code's scores, gold, groups) -> its probabilities


def _example_scores(con, codebook: Codebook, codes: list[str], embedder, selected, scores):
    """Each auto-coder's decisions (cases x codes) on every code's examples and counter-examples; a
    case is scored against its own code leave-one-out, so it never matches itself."""
    from insight.embeddings import embed_texts

    cases = []  # (code index, text, expected)
    for j, name in enumerate(codes):
        code = codebook.code(name)
        cases += [(j, t, True) for t in code.examples] + [(j, t, False) for t in code.counter_examples]
    if not cases:
        return cases, {}
    texts = [t for _, t, _ in cases]
    units = text_units(con, texts, need_vectors=False)
    if any(c.needs_vectors for c in selected):
        units.vectors = embed_texts(con, texts, embedder)
    own = [j for j, _, _ in cases]
    book = [codebook.code(c) for c in codes]
    return cases, {c.name: c.score_cases(units, book, own, scores[c.name]) for c in selected}


def _rollup(codebook: Codebook, codes: list[str], matrix: np.ndarray) -> np.ndarray:
    """A parent code applies wherever any of its descendants applies (coders code children)."""
    out = matrix.copy()
    index = {c: j for j, c in enumerate(codes)}
    for j, name in enumerate(codes):
        stack, seen = [name], set()
        while stack:
            for child in codebook.children(stack.pop()):
                if child.name not in seen:
                    seen.add(child.name)
                    stack.append(child.name)
        for child in seen:
            out[:, j] |= matrix[:, index[child]]
    return out


def _decide(options: dict[str, np.ndarray], chosen: list[str]) -> np.ndarray:
    """Apply each code's chosen rule ('semantic', 'rules|semantic', ...) column by column."""
    any_matrix = next(iter(options.values()))
    out = np.zeros(any_matrix.shape, dtype=bool)
    for j, rule in enumerate(chosen):
        for part in rule.split("|"):
            if part in options:
                out[:, j] |= options[part][:, j]
    return out


def test_codebook(con, study_id: int | None, codebook: Codebook, *, gold: str | None = None,
                  methods=("rules", "semantic"), cv: int = 5, min_f1: float = 0.5, embedder=None,
                  seed: int = 0, include_interviewer: bool = False, progress=None) -> dict:
    """Run the codebook's tests; returns ``{"codes": [...], "passed", "failed", ...}``. The units are
    those auto-coding codes: the researcher's turns are left out unless ``include_interviewer``.
    ``progress(message)`` hears each step (the first run embeds and fits; later ones take seconds)."""
    from insight.reliability import figures
    from pipelines import autocode
    from pipelines.autocode_combine import choose, rule_options
    from pipelines.embed import get_embedder

    started = time.perf_counter()
    methods = list(methods)
    if gold and "classifier" not in methods:
        methods.append("classifier")
    codes = codebook.names()
    known = [autocode.AUTOCODERS[m] for m in methods if m in autocode.AUTOCODERS]  # others are ignored
    need_vectors = any(a.needs_vectors for a in known)
    embedder = (embedder or get_embedder()) if need_vectors else None

    def say(message: str) -> None:
        if progress:
            progress(message)

    say("reading segments" + (" and embedding new ones" if need_vectors else ""))
    units = load_units(con, study_id, embedder=embedder, need_vectors=need_vectors,
                       need_lemmas=any(a.needs_lemmas for a in known), include_interviewer=include_interviewer)
    gold_mask = gold_matrix = None
    if gold:
        gold_mask, gold_matrix = gold_labels(con, gold, units.segment_ids, codes)
        if not gold_mask.any():
            from insight.errors import NotFound
            from insight.reliability import coders

            raise NotFound("coder", gold, coders(con, study_id))
    else:
        methods = [m for m in methods if not getattr(autocode.AUTOCODERS.get(m), "needs_gold", False)]

    # Nothing is tuned on the gold units it decides: semantic thresholds are chosen out of fold.
    setup = setting(con, embedder, coder=gold or "", cv=cv, seed=seed, calibrate=False)
    selected = autocode.autocoders([m for m in methods if m in autocode.AUTOCODERS], setup)
    gold_pair = (gold_mask, gold_matrix) if gold else None
    scores = {}
    for c in selected:
        say(c.activity())
        scores[c.name] = c.score(units, [codebook.code(n) for n in codes], gold_pair)
    say("deciding out of fold" + (f" (folds by {units.folds_by})" if gold else ""))
    unit_decisions = {c.name: c.held_out(scores[c.name], gold_pair) for c in selected}
    options = rule_options(unit_decisions)
    chosen = choose(options, codes, gold_pair, {m: s.skipped for m, s in scores.items()})
    parents = np.array([bool(codebook.children(c)) for c in codes])
    final = _rollup(codebook, codes, _decide(unit_decisions, chosen) & ~parents[None, :])
    if gold:
        gold_matrix = _rollup(codebook, codes, gold_matrix.astype(bool)).astype(np.int8)

    cases, example_decisions = _example_scores(con, codebook, codes, embedder, selected, scores)
    example_final = _rollup(codebook, codes, _decide(example_decisions, chosen) & ~parents[None, :]) if cases else None

    rows = []
    for j, name in enumerate(codes):
        rule = chosen[j]
        ex_fail, cx_fail, ex_total, cx_total = [], [], 0, 0
        for i, (cj, text, expected) in enumerate(cases):
            if cj != j:
                continue
            got = bool(example_final[i, j])
            if expected:
                ex_total += 1
                if not got:
                    ex_fail.append(text)
            else:
                cx_total += 1
                if got:
                    cx_fail.append(text)
        row = {"code": name, "parent": codebook.code(name).parent, "rule": "children" if parents[j] else rule,
               "examples": f"{ex_total - len(ex_fail)}/{ex_total}",
               "counter_examples": f"{cx_total - len(cx_fail)}/{cx_total}",
               "failing_examples": ex_fail, "failing_counter_examples": cx_fail,
               "precision": None, "recall": None, "f1": None, "kappa": None, "alpha": None,
               "gold_units": None, "gold_positives": None, "predicted": int(final[:, j].sum()),
               "false_positives": [], "false_negatives": [], "skipped": next(
                   (s.skipped[name] for s in scores.values() if name in s.skipped), None)}
        passed = not ex_fail and not cx_fail
        if gold:
            y = gold_matrix[gold_mask, j].astype(np.float64)
            d = final[gold_mask, j].astype(np.float64)
            fig = figures(len(y), y.sum(), d.sum(), (y * d).sum())
            for key in ("precision", "recall", "f1", "kappa", "alpha"):
                value = float(fig[key])
                row[key] = None if np.isnan(value) else round(value, 4)
            row["gold_units"], row["gold_positives"] = int(len(y)), int(y.sum())
            idx = np.flatnonzero(gold_mask)
            fp = idx[(final[idx, j]) & (gold_matrix[idx, j] == 0)]
            fn = idx[(~final[idx, j]) & (gold_matrix[idx, j] == 1)]
            row["false_positives"] = [{"segment_id": int(units.segment_ids[i]), "text": units.texts[i]} for i in fp[:MAX_QUOTES]]
            row["false_negatives"] = [{"segment_id": int(units.segment_ids[i]), "text": units.texts[i]} for i in fn[:MAX_QUOTES]]
            row["false_positive_count"], row["false_negative_count"] = int(len(fp)), int(len(fn))
            if y.sum() == 0 and d.sum() == 0:
                pass
            elif (row["f1"] or 0.0) < min_f1:
                passed = False
        row["why"] = _why(row, min_f1, bool(gold)) if not passed else None
        if gold and "rules" in scores and scores["rules"].rule_hits is not None:
            row["rules"] = rule_figures(scores["rules"].rule_hits.get(j, {}), gold_mask, gold_matrix[:, j])
        row["passed"] = passed
        rows.append(row)
    calibration = {name: _calibration(s.matrix, gold_pair, units.groups, cv, seed) for name, s in scores.items()
                   } if gold else None
    n_pass = sum(r["passed"] for r in rows)
    groups = len(np.unique(units.groups[gold_mask])) if gold and units.groups is not None else None
    return {"codebook": codebook.ref, "gold": gold, "methods": methods, "min_f1": min_f1, "units": len(units.texts),
            "folds_by": units.folds_by if gold else None, "fold_groups": groups, "folds": cv if gold else None,
            "include_interviewer": include_interviewer, "codes": rows, "calibration": calibration, "passed": n_pass, "failed": len(rows) - n_pass,
            "seconds": round(time.perf_counter() - started, 3),
            "model": embedder.name if embedder else None}


def _calibration(matrix: np.ndarray, gold, groups, cv: int, seed: int) -> dict:
    """A method's scores as calibrated probabilities on the gold units: ``{"ece", "points"}``. Each
    code's column is calibrated once per (scores, gold, groups): a re-test after one edit redoes one."""
    import hashlib

    from pipelines.folds import calibrate, expected_calibration_error, reliability

    mask, labels = gold
    shared = b"".join(np.ascontiguousarray(a).tobytes() for a in (
        mask, groups if groups is not None else np.zeros(0))) + f"{cv}:{seed}".encode()
    columns = []
    for j in range(matrix.shape[1]):
        key = hashlib.blake2b(shared + np.ascontiguousarray(matrix[:, j]).tobytes() + labels[:, j].tobytes(),
                              digest_size=16).hexdigest()
        if key not in _CALIBRATION:
            if len(_CALIBRATION) > 4096:
                _CALIBRATION.clear()
            _CALIBRATION[key] = calibrate(matrix[:, [j]], (mask, labels[:, [j]]), groups, max(2, cv), seed)[0][mask, 0]
        columns.append(_CALIBRATION[key])
    prob = np.column_stack(columns) if columns else np.zeros((int(mask.sum()), 0))
    return {"ece": expected_calibration_error(prob, labels[mask]), "points": reliability(prob, labels[mask])}


def _why(row: dict, min_f1: float, gold: bool) -> str:
    """Why a code failed, in one line: the examples missed, the counter-examples coded, F1 short."""
    reasons = []
    if row["failing_examples"]:
        reasons.append(f"{len(row['failing_examples'])} of {row['examples'].split('/')[1]} examples not coded")
    if row["failing_counter_examples"]:
        reasons.append(f"{len(row['failing_counter_examples'])} of {row['counter_examples'].split('/')[1]} "
                       "counter-examples coded")
    if gold and row["f1"] is not None and row["f1"] < min_f1:
        reasons.append(f"F1 {row['f1']:.2f} below {min_f1:.2f}")
    elif gold and row["f1"] is None and row["gold_positives"]:
        reasons.append("F1 undefined: nothing coded")
    return "; ".join(reasons) or "failed"


def rule_figures(hits: dict[str, np.ndarray], seen: np.ndarray, gold: np.ndarray) -> list[dict]:
    """Each keyword or pattern of a code tested on its own against the gold coder: how many of the
    units the gold coder saw it matched, in how many the gold coder applied the code (precision),
    and the share of the gold coder's units it finds (recall); worst precision first."""
    positives = int(gold[seen].sum())
    out = []
    for rule, units in hits.items():
        units = units[seen[units]]
        agreed = int(gold[units].sum())
        out.append({"rule": rule, "matches": int(len(units)), "agreed": agreed,
                    "precision": round(agreed / len(units), 4) if len(units) else None,
                    "recall": round(agreed / positives, 4) if positives else None})
    return sorted(out, key=lambda r: (r["precision"] if r["precision"] is not None else 2, -r["matches"]))


def compare_reports(old: dict, new: dict) -> list[dict]:
    """Code by code, the change of every figure from one test report to another."""
    before = {r["code"]: r for r in old["codes"]}
    out = []
    for row in new["codes"]:
        prev = before.get(row["code"])
        change = {"code": row["code"], "passed": row["passed"], "was_passed": prev["passed"] if prev else None}
        for key in ("precision", "recall", "f1", "kappa", "alpha"):
            a, b = (prev or {}).get(key), row.get(key)
            change[key] = b
            change[f"{key}_change"] = None if a is None or b is None else round(b - a, 4)
        out.append(change)
    return out


def format_report(report: dict) -> str:
    """The human-readable report: a line per code, failing quotes, and a last line like
    ``12 passed, 3 failed``."""
    lines = [f"Codebook {report['codebook']}" + (f" against {report['gold']}" if report["gold"] else "")
             + f" on {report['units']} segments ({', '.join(report['methods'])})"]
    if report.get("folds_by"):
        lines.append(f"Out of fold, {report['folds']} folds by {report['folds_by']}: no document or respondent is on "
                     f"both sides of a fold ({report['fold_groups']:,} groups), so the figures say how well the "
                     "codebook codes the next interview or respondent.")
    lines.append("")

    def fmt(x):
        return "  -  " if x is None else f"{x:.2f}"

    for row in report["codes"]:
        mark = "PASS" if row["passed"] else "FAIL"
        line = f"{mark}  {row['code']:<36} examples {row['examples']:>5}  counter {row['counter_examples']:>5}"
        if report["gold"]:
            line += f"  P {fmt(row['precision'])} R {fmt(row['recall'])} F1 {fmt(row['f1'])} kappa {fmt(row['kappa'])}"
            line += f"  [{row['rule']}]"
        lines.append(line)
        if not row["passed"]:
            lines.append(f"        why: {row['why']}")
            for text in row["failing_examples"][:MAX_QUOTES]:
                lines.append(f"        missed example: \u201c{_short(text)}\u201d")
            for text in row["failing_counter_examples"][:MAX_QUOTES]:
                lines.append(f"        coded counter-example: \u201c{_short(text)}\u201d")
            for item in row["false_negatives"][:2]:
                lines.append(f"        missed (gold has it): \u201c{_short(item['text'])}\u201d")
            for item in row["false_positives"][:2]:
                lines.append(f"        wrongly coded: \u201c{_short(item['text'])}\u201d")
        for rule in row.get("rules") or []:
            if rule["matches"] and rule["precision"] < 0.5:  # a rule that mostly disagrees: one look finds it
                lines.append(f"        rule {rule['rule']!r}: {rule['agreed']} of {rule['matches']} matches agreed "
                             f"with {report['gold']} (precision {rule['precision']:.2f})")
    lines.append("")
    lines.append(f"{report['passed']} passed, {report['failed']} failed")
    return "\n".join(lines)


def _short(text: str, n: int = 110) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."
