"""Shaping a theme run in the app: rename, merge, split, pin, undo, and the history of edits.

Each control is one library call through :func:`insight.ui.shell.run_action` (a writable
workspace opened for it alone). A viewer sees the history but no controls: only researchers
change themes (:func:`insight.access.can_edit`; :func:`insight.ui.db.act` refuses them too).
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from insight import access
from insight.ui import db, shell


def _choice(row) -> str:
    pin = " \U0001f4cc" if row.pinned else ""
    return f"{row.id}: {row.label} ({row.size:,}){pin}"


def editor(table: pd.DataFrame, run_id: int, *, study: str | None) -> None:
    """The edit controls for run ``run_id`` (its ``theme_table``), then its history."""
    if not access.can_edit(access.current_role()):
        st.caption("Viewers read themes; a researcher can rename, merge, split and pin them.")
        history(run_id, study=study)
        return
    groups = db.read("theme_table", run_id, study=study, groups=True)
    themes = table[table["id"] >= 0]
    every = pd.concat([themes, groups]).sort_values(["size", "id"], ascending=[False, True])
    choices = {_choice(r): int(r.id) for r in every.itertuples()}
    leaves = {_choice(r): int(r.id) for r in themes.itertuples()}
    who = shell.coder() or None
    key = f"themes.edit.{run_id}"
    st.markdown("**Shape the themes**: names, merges and pins are kept when themes are found again.")
    c1, c2, c3 = st.columns([2, 3, 1], vertical_alignment="bottom")
    picked = c1.selectbox("Theme", list(choices), key=f"{key}.theme")
    name = c2.text_input("New name", key=f"{key}.name", placeholder="A name people would write, e.g. Damp and mould")
    if c3.button("Rename", key=f"{key}.rename"):
        _do(f"Renamed theme {choices[picked]}.", "rename the theme", "rename_theme", choices[picked], name.strip(),
            run_id=run_id, study=study, actor=who)
    pinned = bool(every.loc[every["id"] == choices[picked], "pinned"].iloc[0]) if picked else False
    c1, c2, c3 = st.columns([2, 2, 2], vertical_alignment="bottom")
    if c1.button("Unpin" if pinned else "Pin", key=f"{key}.pin", icon=":material/push_pin:",
                 help="A pinned theme keeps its name and all of its segments when themes are found again."):
        _do(f"Theme {choices[picked]} {'unpinned' if pinned else 'pinned'}.", "pin the theme", "pin_theme",
            choices[picked], not pinned, run_id=run_id, study=study, actor=who)
    parts = c2.number_input("Parts", 2, 10, 2, key=f"{key}.parts", label_visibility="collapsed")
    if c3.button(f"Split into {parts}", key=f"{key}.split", disabled=choices.get(picked) not in leaves.values()):
        _do(f"Split theme {choices[picked]}.", "split the theme", "split_theme", choices[picked], int(parts),
            run_id=run_id, study=study, actor=who)
    c1, c2, c3 = st.columns([3, 2, 1], vertical_alignment="bottom")
    merging = c1.multiselect("Merge these themes", list(leaves), key=f"{key}.merge",
                             help="The others join the first you pick.")
    merged_name = c2.text_input("Name of the merged theme (optional)", key=f"{key}.merge_name")
    if c3.button("Merge", key=f"{key}.merge_go", disabled=len(merging) < 2):
        _do(f"Merged {len(merging)} themes.", "merge the themes", "merge_themes", [leaves[m] for m in merging],
            into=leaves[merging[0]], name=merged_name.strip() or None, run_id=run_id, study=study, actor=who)
    history(run_id, study=study, undo=True)


def _do(message: str, label: str, verb: str, *args, **kwargs) -> None:
    if shell.run_action(label, verb, *args, **kwargs) is not None:
        shell.flash(message)
        st.rerun()


def history(run_id: int, *, study: str | None, undo: bool = False) -> None:
    """The run's theme edits, newest first, with an undo button for the latest."""
    edits = db.read("theme_edits", run_id, study=study)
    if edits.empty:
        st.caption("No edits to this run yet.")
        return
    shown = edits.assign(what=edits["detail"].map(_what), undone=edits["undone_by"].notna())
    st.dataframe(shown[["edit_id", "changed_at", "actor", "action", "theme_id", "what", "undone"]], hide_index=True,
                 key=f"themes.edits.{run_id}")
    if undo and st.button("Undo the latest edit", key=f"themes.edit.{run_id}.undo", icon=":material/undo:"):
        _do("Undone.", "undo the edit", "undo_theme_edit", run_id=run_id, study=study, actor=shell.coder() or None)


def _what(detail: str | None) -> str:
    data = json.loads(detail or "{}")
    return ", ".join(f"{k}: {v}" for k, v in data.items() if k != "labels")
