"""Themes: discovering and storing theme runs and the gap finder (:mod:`insight.themes.run`), reading
them back (:mod:`insight.themes.read`) and drawing them (:mod:`insight.themes.maps`, plotly; imported
on its own).

Reads and writes ``runs`` (steps ``'themes'`` and ``'gaps'``), ``themes`` and ``segment_themes``.
"""

from insight.themes.read import (
    NO_VALUE, UNASSIGNED, add_gap_as_code, gap_candidates, latest_run, parse_candidate, resolve_run, run_info,
    segment_themes, theme_code_overlap, theme_table, themes_by, themes_over_time,
)
from insight.themes.run import discover_themes, find_gaps

__all__ = [
    "NO_VALUE", "UNASSIGNED", "add_gap_as_code", "discover_themes", "find_gaps", "gap_candidates", "latest_run",
    "parse_candidate", "resolve_run", "run_info", "segment_themes", "theme_code_overlap", "theme_table", "themes_by",
    "themes_over_time",
]
