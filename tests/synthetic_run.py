"""A theme run written straight into the tables (no BERTopic): the tests of the map and of the
percentages choose each segment's theme and place, so the right answer is known."""

from __future__ import annotations

import pandas as pd


def panel_csv(path, rows: list[dict], columns: list[str]) -> None:
    """A panel export as real ones come: UTF-8 with a byte-order mark, ``;``-separated, Windows
    line endings, blank cells left blank."""
    lines = [";".join(columns)] + [";".join(str(r.get(c, "") or "") for c in columns) for r in rows]
    path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))


def store_run(ws, assignments: pd.DataFrame, themes: list[dict], study: str | None = None) -> int:
    """A finished theme run: ``assignments`` has ``segment_id, theme_id, x, y``; ``themes`` has
    ``theme_id, label`` and optionally ``parent_id`` (themes that are only parents included).
    Sizes are counted from the assignments; the map layout is precomputed as a real run's is."""
    from insight.store import record_run, transaction
    from insight.themes.maps import precompute_map

    sizes = assignments.groupby("theme_id").size()
    theme_rows = pd.DataFrame([{"theme_id": t["theme_id"], "label": t["label"], "keywords": "[]",
                                "size": int(sizes.get(t["theme_id"], 0)), "parent_id": t.get("parent_id"),
                                "quotes": "[]"} for t in themes])
    theme_rows["parent_id"] = theme_rows["parent_id"].astype("Int64")
    seg_rows = assignments.assign(probability=1.0, reassigned=False)  # noqa: F841 (DuckDB replacement scan)
    study_id = ws.study_id(study) if study else None
    with transaction(ws.con):
        run_id = record_run(ws.con, "themes", study_id, {"synthetic": True}, {"segments": len(assignments)})
        ws.con.execute("INSERT INTO themes (run_id, theme_id, label, keywords, size, parent_id, quotes) "
                       "SELECT ?, theme_id, label, keywords, size, parent_id, quotes FROM theme_rows", [run_id])
        ws.con.execute("INSERT INTO segment_themes (run_id, segment_id, theme_id, probability, reassigned, x, y) "
                       "SELECT ?, segment_id, theme_id, probability, reassigned, x, y FROM seg_rows", [run_id])
        precompute_map(ws.con, run_id)
    return run_id
