"""Themes: discovering and storing theme runs and the gap finder (:mod:`insight.themes.run`), reading
them back (:mod:`insight.themes.read`), shaping them: rename, merge, split, pin, undo, carried into
the next run (:mod:`insight.themes.edit`), and drawing them (:mod:`insight.themes.maps`, plotly;
imported on its own). :mod:`insight.themes.verbs` holds the ``Workspace`` verbs for edits.

Reads and writes ``runs`` (steps ``'themes'`` and ``'gaps'``), ``themes``, ``segment_themes`` and
``theme_edits``.

Names are looked up on first use (PEP 562), so importing :mod:`insight.themes.verbs` (as the
workspace does) loads neither pandas nor numpy.
"""

from importlib import import_module

_WHERE = {
    **dict.fromkeys(["NO_VALUE", "UNASSIGNED", "add_gap_as_code", "gap_candidates", "latest_run", "parse_candidate",
                     "resolve_run", "run_info", "segment_themes", "theme_code_overlap", "theme_table", "themes_by",
                     "themes_over_time"], "read"),
    **dict.fromkeys(["discover_themes", "find_gaps"], "run"),
    **dict.fromkeys(["ThemeEditError", "carry_forward", "merge_themes", "parse_theme", "pin_theme", "rename_theme",
                     "split_theme", "theme_edits", "undo_theme_edit"], "edit"),
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'insight.themes' has no attribute {name!r}")
    return getattr(import_module(f"insight.themes.{_WHERE[name]}"), name)
