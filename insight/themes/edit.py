"""Themes researchers shape: rename, merge, split and pin, every change in ``theme_edits``
(who, when, what, and what an undo puts back), and all of it carried into the next run.

Reads and writes ``themes`` and ``segment_themes`` of one run and appends to ``theme_edits``;
reads ``runs`` and, through :mod:`insight.themes.members`, the run's texts and vectors.

A theme is named by a reference: ``3`` (theme 3 of the latest run) or ``"12:3"`` (of run 12).

Re-running keeps the researcher's work (:func:`carry_forward`, called by theme discovery): each
theme of the previous run that was renamed, pinned or made by a merge is found in the new run by
its members. A new theme lying mostly (>= 50%) inside a merged theme is merged again; the new
theme sharing most segments with an old one (Jaccard >= 0.3) takes its name and pin; a pinned
theme with no such match is made again from its segments, and a pinned theme keeps every one of
its segments. Each carry is an edit of the new run by ``insight``, undoable like any other.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from insight.errors import InsightError, NotFound
from insight.store import frames, next_ids, transaction
from insight.themes.members import quote_record, run_frame, unit_vectors
from insight.themes.read import UNASSIGNED, resolve_run

MATCH = 0.3  # Jaccard overlap for a theme of a new run to be an old one
INSIDE = 0.5  # share of a new theme inside an old merged theme for the merge to be redone
CARRIER = "insight"
LEAVES = ("theme", "small_talk")
_COLUMNS = ["theme_id", "label", "keywords", "size", "parent_id", "quotes", "kind", "named_by", "pinned"]


class ThemeEditError(InsightError):
    """A theme edit that cannot be made (a group merged, a theme split into more parts than segments)."""


def parse_theme(ref) -> tuple[int | None, int]:
    """``3`` or ``"3"`` -> ``(None, 3)``; ``"12:3"`` or ``"12/3"`` -> ``(12, 3)``."""
    text = str(ref).strip().replace("/", ":")
    run, _, theme = text.rpartition(":")
    try:
        return (int(run) if run else None), int(theme)
    except ValueError:
        raise ThemeEditError(f"{str(ref)!r} is not a theme.", hint="Use the theme's number from `insight themes` "
                             "(or RUN:THEME for an older run).") from None


def resolve_theme(con, ref, run_id: int | None = None, study_id: int | None = None) -> tuple[int, int, dict]:
    """``(run_id, theme_id, row)`` for a theme reference; a clear error naming the known themes."""
    run, theme = parse_theme(ref)
    run_id = resolve_run(con, run if run is not None else run_id, study_id)
    rows = _themes(con, run_id)
    if theme not in rows or theme == UNASSIGNED:
        known = [f"{t}: {r['label']}" for t, r in sorted(rows.items()) if t != UNASSIGNED]
        raise NotFound(f"theme of run {run_id}", str(theme), known)
    return run_id, theme, rows[theme]


def _themes(con, run_id: int) -> dict[int, dict]:
    frame = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM themes WHERE run_id = ? ORDER BY theme_id", [run_id]).df()
    return {int(r["theme_id"]): _plain(r) for r in frame.to_dict("records")}


def _plain(row: dict) -> dict:
    return {k: (None if v is None or (isinstance(v, float) and np.isnan(v)) else
                int(v) if isinstance(v, (np.integer,)) else bool(v) if isinstance(v, np.bool_) else v)
            for k, v in row.items()}


def _members(con, run_id: int) -> dict[int, set[int]]:
    """Segments per theme of a run; a group holds its children's segments."""
    members: dict[int, set[int]] = {}
    for seg, theme in con.execute("SELECT segment_id, theme_id FROM segment_themes WHERE run_id = ?",
                                  [run_id]).fetchall():
        members.setdefault(int(theme), set()).add(int(seg))
    for theme, row in _themes(con, run_id).items():
        if row["parent_id"] is not None:
            members.setdefault(int(row["parent_id"]), set()).update(members.get(theme, set()))
    return members


# ---------------------------------------------------------------------------------------------
# Recording, undoing


def _snapshot(con, run_id: int, segments=()) -> dict:
    """What an undo puts back: every theme row of the run and the themes of ``segments``."""
    segments = sorted(int(s) for s in segments)
    pairs = con.execute("SELECT segment_id, theme_id FROM segment_themes WHERE run_id = ? AND list_contains(?, "
                        "segment_id)", [run_id, segments]).fetchall() if segments else []
    return {"themes": list(_themes(con, run_id).values()), "segments": [[int(s), int(t)] for s, t in pairs]}


def _record(con, run_id: int, theme_id, action: str, detail: dict, before: dict, actor: str) -> int:
    (edit_id,) = next_ids(con, "theme_edits", "edit_id")
    con.execute("INSERT INTO theme_edits (edit_id, run_id, theme_id, action, detail, before, actor) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", [edit_id, run_id, theme_id, action,
                                                  json.dumps(detail, ensure_ascii=False, default=str),
                                                  json.dumps(before, ensure_ascii=False, default=str), actor])
    return edit_id


def _restore(con, run_id: int, before: dict) -> None:
    con.execute("DELETE FROM themes WHERE run_id = ?", [run_id])
    rows = pd.DataFrame(before["themes"], columns=_COLUMNS)
    rows["parent_id"] = rows["parent_id"].astype("Int64")
    with frames(con, _restore_rows=rows):
        con.execute(f"INSERT INTO themes (run_id, {', '.join(_COLUMNS)}) SELECT ?, {', '.join(_COLUMNS)} "
                    "FROM _restore_rows", [run_id])
    for seg, theme in before["segments"]:
        con.execute("UPDATE segment_themes SET theme_id = ? WHERE run_id = ? AND segment_id = ?", [theme, run_id, seg])


def undo_theme_edit(con, *, run_id: int | None = None, study_id: int | None = None, actor: str) -> dict:
    """Undo the latest edit of a run (default: the latest run) that is not undone yet."""
    run_id = resolve_run(con, run_id, study_id)
    row = con.execute("SELECT edit_id, theme_id, action, before FROM theme_edits WHERE run_id = ? AND action <> 'undo' "
                      "AND undone_by IS NULL ORDER BY edit_id DESC LIMIT 1", [run_id]).fetchone()
    if not row:
        raise ThemeEditError(f"Run {run_id} has no theme edit to undo.", hint="See them: insight themes edits")
    edit_id, theme_id, action, before = row
    with transaction(con):
        _restore(con, run_id, json.loads(before))
        undo_id = _record(con, run_id, theme_id, "undo", {"undid": edit_id, "action": action}, {}, actor)
        con.execute("UPDATE theme_edits SET undone_by = ? WHERE edit_id = ?", [undo_id, edit_id])
    return {"run_id": run_id, "undid": int(edit_id), "action": action, "theme_id": theme_id}


def theme_edits(con, run_id: int | None = None, *, study_id: int | None = None) -> pd.DataFrame:
    """The history of a run's theme edits, newest first: ``edit_id, theme_id, action, detail,
    actor, changed_at, undone_by``."""
    run_id = resolve_run(con, run_id, study_id)
    return con.execute("SELECT edit_id, theme_id, action, detail, actor, changed_at, undone_by FROM theme_edits "
                       "WHERE run_id = ? ORDER BY edit_id DESC", [run_id]).df()


# ---------------------------------------------------------------------------------------------
# The edits


def rename_theme(con, ref, name: str, *, actor: str, run_id: int | None = None, study_id: int | None = None) -> dict:
    """Give a theme (or a group) a name; it keeps it on re-runs."""
    name = " ".join(str(name or "").split())
    if not name:
        raise ThemeEditError("A theme's name cannot be empty.", hint='Give the name in quotes: "Damp and mould".')
    run_id, theme, row = resolve_theme(con, ref, run_id, study_id)
    with transaction(con):
        before = _snapshot(con, run_id)
        con.execute("UPDATE themes SET label = ?, named_by = ? WHERE run_id = ? AND theme_id = ?",
                    [name, actor, run_id, theme])
        edit = _record(con, run_id, theme, "rename", {"from": row["label"], "to": name}, before, actor)
    return {"run_id": run_id, "theme_id": theme, "label": name, "edit_id": edit}


def pin_theme(con, ref, pinned: bool = True, *, actor: str, run_id: int | None = None,
              study_id: int | None = None) -> dict:
    """Pin (or unpin) a theme: on re-runs it keeps its name and all of its segments."""
    run_id, theme, row = resolve_theme(con, ref, run_id, study_id)
    with transaction(con):
        before = _snapshot(con, run_id)
        con.execute("UPDATE themes SET pinned = ? WHERE run_id = ? AND theme_id = ?", [bool(pinned), run_id, theme])
        edit = _record(con, run_id, theme, "pin" if pinned else "unpin", {"label": row["label"]}, before, actor)
    return {"run_id": run_id, "theme_id": theme, "pinned": bool(pinned), "edit_id": edit}


def merge_themes(con, refs, *, into=None, name: str | None = None, actor: str, run_id: int | None = None,
                 study_id: int | None = None) -> dict:
    """Merge themes into one (``into``, default the largest): their segments move to it, the
    others go. ``name`` names the result; else it keeps its researcher-given name or is named
    afresh from its new text."""
    refs = list(refs) + ([into] if into is not None else [])
    resolved = [resolve_theme(con, ref, run_id, study_id) for ref in refs]
    runs = {r for r, _, _ in resolved}
    if len(runs) > 1:
        raise ThemeEditError("Themes of different runs cannot be merged.", hint="Name themes of one run.")
    run_id = runs.pop()
    rows = {t: row for _, t, row in resolved}
    if len(rows) < 2:
        raise ThemeEditError("Merging needs two themes or more.", hint="insight themes merge 3 7 [--into 3]")
    groups = [f"{t}: {r['label']}" for t, r in rows.items() if r["kind"] not in LEAVES]
    if groups:
        raise ThemeEditError(f"Theme {groups[0]} is a group of themes; only themes can be merged.",
                             hint="Merge the themes inside it instead.")
    target = parse_theme(into)[1] if into is not None else max(rows, key=lambda t: (rows[t]["size"], -t))
    with transaction(con):
        edit = _merge(con, run_id, target, [t for t in rows if t != target], name=name, actor=actor, detail={})
    return {"run_id": run_id, "theme_id": target, "merged": sorted(t for t in rows if t != target),
            "label": _themes(con, run_id)[target]["label"], "edit_id": edit}


def _merge(con, run_id: int, target: int, sources: list[int], *, name: str | None, actor: str, detail: dict) -> int:
    rows = _themes(con, run_id)
    moved = [s for s, in con.execute("SELECT segment_id FROM segment_themes WHERE run_id = ? AND list_contains(?, "
                                     "theme_id)", [run_id, sources]).fetchall()]
    before = _snapshot(con, run_id, moved)
    con.execute("UPDATE segment_themes SET theme_id = ? WHERE run_id = ? AND list_contains(?, theme_id)",
                [target, run_id, sources])
    con.execute("DELETE FROM themes WHERE run_id = ? AND list_contains(?, theme_id)", [run_id, sources])
    if name:
        con.execute("UPDATE themes SET label = ?, named_by = ? WHERE run_id = ? AND theme_id = ?",
                    [" ".join(name.split()), actor, run_id, target])
    if any(rows[s]["pinned"] for s in sources):
        con.execute("UPDATE themes SET pinned = true WHERE run_id = ? AND theme_id = ?", [run_id, target])
    refresh(con, run_id, [target])
    detail = {**detail, "into": target, "merged": sources, "labels": {str(s): rows[s]["label"] for s in sources},
              "segments": len(moved)}
    return _record(con, run_id, target, "merge", detail, before, actor)


def split_theme(con, ref, parts: int = 2, *, actor: str, seed: int = 42, run_id: int | None = None,
                study_id: int | None = None) -> dict:
    """Split a theme into ``parts`` themes (k-means over its segments' vectors), each named from
    its own text; they keep the theme's parent."""
    from pipelines.themes import split_members

    run_id, theme, row = resolve_theme(con, ref, run_id, study_id)
    if row["kind"] != "theme":
        raise ThemeEditError(f"Theme {theme} ({row['label']}) is a {row['kind'].replace('_', ' ')}; only themes "
                             "can be split.", hint="Split one of the themes inside it.")
    frame = run_frame(con, run_id)
    inside = np.where(frame["theme_id"].to_numpy() == theme)[0]
    if parts < 2 or len(inside) < 2 * parts:
        raise ThemeEditError(f"Theme {theme} has {len(inside)} segments; it cannot be split into {parts} parts.",
                             hint="Split into 2 to half as many parts as it has segments.")
    split = split_members(unit_vectors(frame)[inside], parts, seed=seed)
    with transaction(con):
        rows = _themes(con, run_id)
        before = _snapshot(con, run_id, frame["segment_id"].to_numpy()[inside])
        new_ids = list(range(max(rows) + 1, max(rows) + 1 + parts))
        segments = pd.DataFrame({"segment_id": frame["segment_id"].to_numpy()[inside].astype("int64"),
                                 "theme_id": np.asarray(new_ids, dtype=np.int64)[split]})
        _add_rows(con, run_id, new_ids, parent_id=row["parent_id"])
        with frames(con, _split=segments):
            con.execute("UPDATE segment_themes SET theme_id = _split.theme_id FROM _split WHERE run_id = ? "
                        "AND segment_themes.segment_id = _split.segment_id", [run_id])
        con.execute("DELETE FROM themes WHERE run_id = ? AND theme_id = ?", [run_id, theme])
        refresh(con, run_id, new_ids, frame=None)
        edit = _record(con, run_id, theme, "split", {"from": row["label"], "into": new_ids}, before, actor)
    labels = _themes(con, run_id)
    return {"run_id": run_id, "theme_id": theme, "into": [{"id": t, "label": labels[t]["label"],
                                                            "size": labels[t]["size"]} for t in new_ids],
            "edit_id": edit}


def _add_rows(con, run_id: int, ids, *, parent_id=None, kind: str = "theme") -> None:
    for t in ids:
        con.execute("INSERT INTO themes (run_id, theme_id, label, keywords, size, parent_id, quotes, kind) "
                    "VALUES (?, ?, ?, '[]', 0, ?, '[]', ?)", [run_id, t, f"Theme {t}", parent_id, kind])


def refresh(con, run_id: int, changed, *, frame: pd.DataFrame | None = None) -> None:
    """After segments moved: sizes of every theme and group, empty ones removed, and for the
    ``changed`` themes new quotes and (unless a researcher named them) new names."""
    from pipelines.themes import describe_themes, proper_nouns

    con.execute("UPDATE themes SET size = (SELECT count(*) FROM segment_themes s WHERE s.run_id = themes.run_id "
                "AND s.theme_id = themes.theme_id) WHERE run_id = ? AND kind <> 'group'", [run_id])
    con.execute("DELETE FROM themes WHERE run_id = ? AND kind <> 'group' AND size = 0 AND theme_id <> ?",
                [run_id, UNASSIGNED])
    con.execute("UPDATE themes SET size = (SELECT coalesce(sum(c.size), 0) FROM themes c "
                "WHERE c.run_id = themes.run_id AND c.parent_id = themes.theme_id) WHERE run_id = ? AND kind = 'group'",
                [run_id])
    con.execute("DELETE FROM themes WHERE run_id = ? AND kind = 'group' AND size = 0", [run_id])
    rows = _themes(con, run_id)
    changed = [int(t) for t in changed if int(t) in rows]
    if not changed:
        return
    frame = run_frame(con, run_id) if frame is None else frame
    docs = frame["text"].tolist()
    labels = frame["theme_id"].to_numpy().astype(np.int64)
    described = describe_themes(docs, unit_vectors(frame), labels, proper_nouns(docs), changed)
    for theme in described:
        t = theme["theme_id"]
        quotes = json.dumps([quote_record(frame, i) for i in theme["quote_idx"]], ensure_ascii=False, default=str)
        label = rows[t]["label"] if rows[t]["named_by"] or rows[t]["kind"] == "small_talk" else theme["label"]
        con.execute("UPDATE themes SET label = ?, keywords = ?, quotes = ? WHERE run_id = ? AND theme_id = ?",
                    [label, json.dumps(theme["keywords"], ensure_ascii=False), quotes, run_id, t])


# ---------------------------------------------------------------------------------------------
# Carrying edits into a new run


def previous_run(con, run_id: int) -> int | None:
    """The theme run of the same study made just before ``run_id``."""
    row = con.execute("SELECT max(r.run_id) FROM runs r, runs n WHERE n.run_id = ? AND r.step = 'themes' "
                      "AND r.status = 'done' AND r.run_id < n.run_id AND r.study_id IS NOT DISTINCT FROM n.study_id",
                      [run_id]).fetchone()
    return row[0] if row and row[0] is not None else None


def carry_forward(con, run_id: int) -> list[dict]:
    """Bring the previous run's names, merges and pins into run ``run_id`` (see the module's
    docstring); call inside the transaction that wrote the run. Returns what was carried."""
    old_run = previous_run(con, run_id)
    if old_run is None:
        return []
    old = _themes(con, old_run)
    merged = {int(json.loads(d)["into"]) for d, in con.execute(
        "SELECT detail FROM theme_edits WHERE run_id = ? AND action = 'merge' AND undone_by IS NULL",
        [old_run]).fetchall()}
    keep = [t for t, r in old.items() if t != UNASSIGNED and (r["named_by"] or r["pinned"] or t in merged)]
    if not keep:
        return []
    old_members = _members(con, old_run)
    carried, changed = [], set()
    for t in sorted(keep, key=lambda t: (t not in merged, t)):
        row = old[t]
        new = _themes(con, run_id)
        members = _members(con, run_id)
        here = set().union(*members.values()) if members else set()
        wanted = old_members.get(t, set()) & here
        if not wanted:
            continue
        leaf = row["kind"] in LEAVES
        candidates = {n: s for n, s in members.items() if n != UNASSIGNED and n in new
                      and (new[n]["kind"] in LEAVES) == leaf}
        detail = {"from_run": old_run, "from_theme": t, "label": row["label"]}
        if t in merged and leaf:
            parts = sorted((n for n, s in candidates.items() if new[n]["kind"] == "theme"
                            and len(s & wanted) >= INSIDE * len(s)), key=lambda n: (-len(candidates[n]), n))
            if len(parts) >= 2:
                _merge(con, run_id, parts[0], parts[1:], name=None, actor=CARRIER, detail=detail)
                changed.add(parts[0])
                members = _members(con, run_id)
                candidates = {n: members[n] for n in candidates if n in members}
        best = max(candidates, key=lambda n: (_jaccard(candidates[n], wanted), -n), default=None)
        score = _jaccard(candidates[best], wanted) if best is not None else 0.0
        if score < MATCH and not (row["pinned"] and leaf):
            continue
        before = _snapshot(con, run_id, wanted if row["pinned"] and leaf else ())
        if row["pinned"] and leaf:
            if score < MATCH:
                best = max(new) + 1
                _add_rows(con, run_id, [best], kind=row["kind"])
            con.execute("UPDATE segment_themes SET theme_id = ? WHERE run_id = ? AND list_contains(?, segment_id)",
                        [best, run_id, sorted(wanted)])
            changed.add(best)
        if row["named_by"]:
            con.execute("UPDATE themes SET label = ?, named_by = ? WHERE run_id = ? AND theme_id = ?",
                        [row["label"], row["named_by"], run_id, best])
        con.execute("UPDATE themes SET pinned = ? WHERE run_id = ? AND theme_id = ?",
                    [bool(row["pinned"]), run_id, best])
        info = {**detail, "to_theme": best, "jaccard": round(score, 3), "pinned": bool(row["pinned"]),
                "named_by": row["named_by"]}
        _record(con, run_id, best, "carry", info, before, CARRIER)
        carried.append(info)
    refresh(con, run_id, sorted(changed))
    return carried


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0
