"""The ``Workspace`` verbs that shape themes: rename, merge, split, pin, undo and the history.

A mixin, so the facade gains them without growing: each verb names the study's run (default:
the latest), the person acting (default: the login name) and hands over to
:mod:`insight.themes.edit`. A theme is ``3`` (of the latest run) or ``"12:3"`` (theme 3 of run 12).
"""

from __future__ import annotations

from insight import scope


class ThemeEditVerbs:
    """Verbs for a class with ``con`` and ``_theme_study(study)`` (the :class:`insight.Workspace`)."""

    def _edit_scope(self, study: str | None, actor: str | None) -> dict:
        return {"study_id": self._theme_study(study), "actor": actor or scope.current_user()}

    def rename_theme(self, theme, name: str, *, run_id: int | None = None, study: str | None = None,
                     actor: str | None = None) -> dict:
        """Name a theme (or a group); the name survives re-runs."""
        from insight.themes.edit import rename_theme

        return rename_theme(self.con, theme, name, run_id=run_id, **self._edit_scope(study, actor))

    def merge_themes(self, themes, *, into=None, name: str | None = None, run_id: int | None = None,
                     study: str | None = None, actor: str | None = None) -> dict:
        """Merge themes into ``into`` (default: the largest); the merge survives re-runs."""
        from insight.themes.edit import merge_themes

        return merge_themes(self.con, themes, into=into, name=name, run_id=run_id, **self._edit_scope(study, actor))

    def split_theme(self, theme, parts: int = 2, *, run_id: int | None = None, study: str | None = None,
                    actor: str | None = None) -> dict:
        """Split a theme into ``parts`` themes, each named from its own text."""
        from insight.themes.edit import split_theme

        return split_theme(self.con, theme, parts, run_id=run_id, **self._edit_scope(study, actor))

    def pin_theme(self, theme, pinned: bool = True, *, run_id: int | None = None, study: str | None = None,
                  actor: str | None = None) -> dict:
        """Pin (or unpin) a theme: re-runs keep its name and all of its segments."""
        from insight.themes.edit import pin_theme

        return pin_theme(self.con, theme, pinned, run_id=run_id, **self._edit_scope(study, actor))

    def undo_theme_edit(self, *, run_id: int | None = None, study: str | None = None,
                        actor: str | None = None) -> dict:
        """Undo the latest theme edit of a run (default: the latest run)."""
        from insight.themes.edit import undo_theme_edit

        return undo_theme_edit(self.con, run_id=run_id, **self._edit_scope(study, actor))

    def theme_edits(self, run_id: int | None = None, *, study: str | None = None):
        """Who renamed, merged, split, pinned or carried which theme of a run, and when (newest first)."""
        from insight.themes.edit import theme_edits

        return theme_edits(self.con, run_id, study_id=self._theme_study(study))
