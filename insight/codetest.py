"""Codebook tests: a codebook is tested like code.

Each code's examples are test cases that the auto-coder must code with it, and its
counter-examples cases it must not (examples are scored leave-one-out, so an example never matches
itself). With a gold coder, the auto-coder's decisions on the units the gold coder saw give
precision, recall, F1, kappa and alpha per code, out of fold: the classifier is cross-validated and
the semantic thresholds are chosen on the other folds. A code passes when every example and
counter-example passes and, with a gold coder, its F1 reaches ``min_f1`` (codes the gold coder
never used pass that part when the auto-coder does not use them either).
"""

from __future__ import annotations

import time

import numpy as np

from insight.codebook import Codebook

MAX_QUOTES = 5


def _fold_thresholds(raw: np.ndarray, gold: np.ndarray, mask: np.ndarray, folds: int, seed: int, default: float):
    """Decisions on the gold units with thresholds chosen on the other folds (no peeking)."""
    from pipelines.autocode import best_f1_threshold

    idx = np.flatnonzero(mask)
    rng = np.random.default_rng(seed)
    assign = rng.integers(0, folds, size=len(idx))
    out = np.zeros(len(raw), dtype=bool)
    for f in range(folds):
        test, train = idx[assign == f], idx[assign != f]
        t = best_f1_threshold(raw[train], gold[train], default) if len(train) else default
        out[test] = raw[test] >= t
    return out


def _example_scores(con, codebook: Codebook, codes: list[str], embedder, methods, classifier_extra, thresholds):
    """Each method's decisions (cases x codes) on every code's examples and counter-examples; a
    case is scored against its own code leave-one-out, so it never matches itself."""
    from pipelines import autocode
    from insight.embeddings import embed_texts

    cases = []  # (code index, text, expected)
    for j, name in enumerate(codes):
        code = codebook.code(name)
        cases += [(j, t, True) for t in code.examples] + [(j, t, False) for t in code.counter_examples]
    if not cases:
        return cases, {}
    texts = [t for _, t, _ in cases]
    decisions: dict[str, np.ndarray] = {}
    units = autocode.text_units(con, texts, need_vectors=False)
    if "rules" in methods:
        decisions["rules"] = autocode.rules_scores(codebook, units, codes).decisions()
    if "semantic" in methods or "classifier" in methods:
        units.vectors = embed_texts(con, texts, embedder)
    if "semantic" in methods:
        raw, _, _ = autocode.semantic_raw(con, codebook, units, codes, embedder)
        for i, (j, text, _) in enumerate(cases):
            positives, pos, negatives, neg = autocode._prototypes(con, codebook.code(codes[j]), embedder)
            keep_pos = [k for k, p in enumerate(positives) if p != text] or list(range(len(positives)))
            keep_neg = [k for k, n in enumerate(negatives) if n != text]
            score = float((pos[keep_pos] @ units.vectors[i]).max())
            if keep_neg:
                score -= max(0.0, float((neg[keep_neg] @ units.vectors[i]).max()) - score)
            raw[i, j] = score
        decisions["semantic"] = raw >= thresholds[None, :]
    if classifier_extra is not None:
        predict, th = classifier_extra
        decisions["classifier"] = predict(texts, units.vectors) >= th[None, :]
    return cases, decisions


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
                  seed: int = 0) -> dict:
    """Run the codebook's tests; returns ``{"codes": [...], "passed", "failed", ...}``."""
    from insight.reliability import figures
    from pipelines import autocode
    from pipelines.embed import get_embedder

    started = time.perf_counter()
    methods = list(methods)
    if gold and "classifier" not in methods:
        methods.append("classifier")
    codes = codebook.names()
    need_vectors = "semantic" in methods or "classifier" in methods
    embedder = (embedder or get_embedder()) if need_vectors else None
    units = autocode.load_units(con, study_id, embedder=embedder, need_vectors=need_vectors,
                                need_lemmas="rules" in methods)
    gold_mask = gold_labels = None
    if gold:
        gold_mask, gold_labels = autocode.gold_labels(con, gold, units.segment_ids, codes)
        if not gold_mask.any():
            from insight.errors import NotFound
            from insight.reliability import coders

            raise NotFound("coder", gold, coders(con, study_id))
    else:
        methods = [m for m in methods if m != "classifier"]

    scores: dict[str, autocode.Scores] = {}
    if "rules" in methods:
        scores["rules"] = autocode.rules_scores(codebook, units, codes)
    if "semantic" in methods:
        scores["semantic"] = autocode.semantic_scores(con, codebook, units, codes, embedder)
    classifier_extra = None
    if "classifier" in methods:
        clf = autocode.classifier_scores(units, codes, gold_mask, gold_labels, cv=cv, seed=seed, coder=gold)
        scores["classifier"] = clf
        classifier_extra = (clf.classifier.predict, clf.thresholds)

    # Decisions on the gold units, out of fold for everything tuned on the gold coder.
    unit_decisions = {m: s.decisions() for m, s in scores.items()}
    if gold and "semantic" in scores:
        sem = unit_decisions["semantic"].copy()
        for j in range(len(codes)):
            sem[gold_mask, j] = _fold_thresholds(scores["semantic"].matrix[:, j], gold_labels[:, j], gold_mask,
                                                 max(2, cv), seed, autocode.DEFAULT_SEMANTIC_THRESHOLD)[gold_mask]
        unit_decisions["semantic"] = sem
    options = autocode.rule_options(unit_decisions)
    chosen = ["rules|semantic" if "rules|semantic" in options else next(iter(options))] * len(codes)
    if gold:
        y = gold_labels[gold_mask].astype(np.float64)
        best = np.full(len(codes), -1.0)
        for name, dec in options.items():
            d = dec[gold_mask].astype(np.float64)
            f1 = np.nan_to_num(figures(len(y), y.sum(0), d.sum(0), (y * d).sum(0))["f1"], nan=0.0)
            for j in range(len(codes)):
                if "classifier" in name.split("|") and codes[j] in scores["classifier"].skipped:
                    continue
                if f1[j] > best[j] + 1e-9:
                    best[j], chosen[j] = f1[j], name
    parents = np.array([bool(codebook.children(c)) for c in codes])
    final = _rollup(codebook, codes, _decide(unit_decisions, chosen) & ~parents[None, :])
    if gold:
        gold_labels = _rollup(codebook, codes, gold_labels.astype(bool)).astype(np.int8)

    sem_thresholds = scores["semantic"].thresholds if "semantic" in scores else None
    cases, example_decisions = _example_scores(con, codebook, codes, embedder, methods, classifier_extra,
                                               sem_thresholds)
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
               "false_positives": [], "false_negatives": [], "skipped": scores.get("classifier").skipped.get(name)
               if "classifier" in scores else None}
        passed = not ex_fail and not cx_fail
        if gold:
            y = gold_labels[gold_mask, j].astype(np.float64)
            d = final[gold_mask, j].astype(np.float64)
            fig = figures(len(y), y.sum(), d.sum(), (y * d).sum())
            for key in ("precision", "recall", "f1", "kappa", "alpha"):
                value = float(fig[key])
                row[key] = None if np.isnan(value) else round(value, 4)
            row["gold_units"], row["gold_positives"] = int(len(y)), int(y.sum())
            idx = np.flatnonzero(gold_mask)
            fp = idx[(final[idx, j]) & (gold_labels[idx, j] == 0)]
            fn = idx[(~final[idx, j]) & (gold_labels[idx, j] == 1)]
            row["false_positives"] = [{"segment_id": int(units.segment_ids[i]), "text": units.texts[i]} for i in fp[:MAX_QUOTES]]
            row["false_negatives"] = [{"segment_id": int(units.segment_ids[i]), "text": units.texts[i]} for i in fn[:MAX_QUOTES]]
            row["false_positive_count"], row["false_negative_count"] = int(len(fp)), int(len(fn))
            if y.sum() == 0 and d.sum() == 0:
                pass
            elif (row["f1"] or 0.0) < min_f1:
                passed = False
        row["passed"] = passed
        rows.append(row)
    n_pass = sum(r["passed"] for r in rows)
    return {"codebook": codebook.ref, "gold": gold, "methods": methods, "min_f1": min_f1, "units": len(units.texts),
            "codes": rows, "passed": n_pass, "failed": len(rows) - n_pass,
            "seconds": round(time.perf_counter() - started, 3),
            "model": embedder.name if embedder else None}


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
             + f" on {report['units']} segments ({', '.join(report['methods'])})", ""]

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
            for text in row["failing_examples"][:MAX_QUOTES]:
                lines.append(f"        missed example: \u201c{_short(text)}\u201d")
            for text in row["failing_counter_examples"][:MAX_QUOTES]:
                lines.append(f"        coded counter-example: \u201c{_short(text)}\u201d")
            for item in row["false_negatives"][:2]:
                lines.append(f"        missed (gold has it): \u201c{_short(item['text'])}\u201d")
            for item in row["false_positives"][:2]:
                lines.append(f"        wrongly coded: \u201c{_short(item['text'])}\u201d")
    lines.append("")
    lines.append(f"{report['passed']} passed, {report['failed']} failed")
    return "\n".join(lines)


def _short(text: str, n: int = 110) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."
