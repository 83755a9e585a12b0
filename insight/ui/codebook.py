"""Codebook: the code tree, the form that edits one code, and a version diff."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from insight.errors import CodebookError
from insight.ui import safe
from insight.ui.shell import chip

LIST_FIELDS = ("examples", "counter_examples", "keywords")
TEXT_FIELDS = ("definition", "include", "exclude")
TOP = "(top level)"


def depth_labels(book) -> dict[str, str]:
    """Code name -> the name indented by its depth, for select boxes."""
    parents = {c.name: c.parent for c in book.codes}
    out = {}
    for code in book.codes:
        depth, node = 0, code.parent
        while node is not None and depth < 20:
            depth, node = depth + 1, parents.get(node)
        out[code.name] = "\u2003" * depth + code.name
    return out


def tree(book, colours: dict[str, str], counts: dict[str, int]) -> None:
    """The code hierarchy with colours and how many segments each code has (human codings)."""
    def branch(parent, depth) -> list[str]:
        lines = []
        for code in book.children(parent):
            n = counts.get(code.name, 0)
            tip = safe.text(code.definition or "no definition yet")
            count = f"<span style='color:#888;font-size:0.8em'>{n:,}</span>" if n or not book.children(code.name) else ""
            lines.append(f"<div title='{tip}' style='margin-left:{depth * 18}px;padding:1px 0'>{chip(code.name, colours)}"
                         f"{count}</div>")
            lines += branch(code.name, depth + 1)
        return lines

    st.markdown("".join(branch(None, 0)), unsafe_allow_html=True)


def lines_of(items: list) -> str:
    return "\n".join(i if isinstance(i, str) else json.dumps(i, ensure_ascii=False) for i in items)


def parse_lines(text: str, field: str) -> list:
    """One item per line; a keyword line starting with ``{`` is a spaCy Matcher pattern in JSON."""
    out: list = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if field == "keywords" and line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError as exc:
                raise CodebookError(field, f"line {number} is not a valid pattern ({exc.msg})",
                                    fix='Write it like {"pattern": [{"LEMMA": "wait"}, {"LOWER": "for"}]}.') from None
        else:
            out.append(" ".join(line.split()))
    return out


def field_keys(code, version, key: str) -> dict[str, str]:
    """Widget keys of one code's form; they change with the version, so a saved edit shows fresh."""
    base = f"{key}.{version}.{code.name}"
    return {f: f"{base}.{f}" for f in ("new_name", "parent", *TEXT_FIELDS, *LIST_FIELDS, "colour", "note")}


def append_line(widget_key: str, text: str, initial: str = "") -> None:
    """Add a quote to a list field of the form (a button callback: runs before the form is drawn)."""
    current = st.session_state.get(widget_key, initial)
    if text not in current.splitlines():
        st.session_state[widget_key] = (current.rstrip("\n") + "\n" + text).lstrip("\n")


def seed_form(code, version, key: str, default_colour: str) -> dict[str, str]:
    """Put the code's current values in Session State (once per version) and return the keys."""
    keys = field_keys(code, version, key)
    initial = {"new_name": code.name, "parent": code.parent or TOP, "colour": code.colour or default_colour,
               "note": ""}
    initial |= {f: getattr(code, f) or "" for f in TEXT_FIELDS}
    initial |= {f: lines_of(getattr(code, f)) for f in LIST_FIELDS}
    for field, widget_key in keys.items():
        st.session_state.setdefault(widget_key, initial[field])
    return keys


def code_form(book, code, *, key: str, default_colour: str, submit: str = "Save as a new version",
              compact: bool = False) -> dict | None:
    """Every field of one code; returns the changed fields (plus ``note``) when submitted."""
    keys = seed_form(code, book.version, key, default_colour)
    labels = depth_labels(book)
    inside = {c.name for c in book.codes if _under(book, c.name, code.name)}
    parents = [TOP] + [c.name for c in book.codes if c.name != code.name and c.name not in inside]
    with st.form(key=f"{key}.{book.version}.{code.name}.form", border=True):
        if not compact:
            c1, c2, c3 = st.columns([3, 3, 1])
            c1.text_input("Name", key=keys["new_name"])
            c2.selectbox("Parent", parents, key=keys["parent"], format_func=lambda n: labels.get(n, n).strip())
            c3.color_picker("Colour", key=keys["colour"])
        st.text_area("Definition", key=keys["definition"], height=90)
        c1, c2 = st.columns(2)
        c1.text_area("Include when", key=keys["include"], height=90)
        c2.text_area("Exclude when", key=keys["exclude"], height=90)
        c1, c2 = st.columns(2)
        c1.text_area("Examples (one per line)", key=keys["examples"], height=140)
        c2.text_area("Counter-examples (one per line)", key=keys["counter_examples"], height=140)
        st.text_area("Keywords and phrases (one per line; a {\"pattern\": [...]} line is a spaCy pattern)",
                     key=keys["keywords"], height=80)
        st.text_input("Note for this version (like a commit message)", key=keys["note"],
                      placeholder=f"e.g. tightened the exclude criteria of {code.name}")
        submitted = st.form_submit_button(submit, type="primary")
    if not submitted:
        return None
    state = st.session_state
    changes: dict = {}
    for field in TEXT_FIELDS:
        value = " ".join(state[keys[field]].split())
        if value != (getattr(code, field) or ""):
            changes[field] = value
    for field in LIST_FIELDS:
        value = parse_lines(state[keys[field]], field)
        if value != getattr(code, field):
            changes[field] = value
    if not compact:
        name = state[keys["new_name"]].strip()
        if name != code.name:
            changes["new_name"] = name
        parent = None if state[keys["parent"]] == TOP else state[keys["parent"]]
        if parent != code.parent:
            changes["parent"] = parent
        colour = state[keys["colour"]]
        if colour != (code.colour or default_colour):
            changes["colour"] = colour
    changes["note"] = state[keys["note"]].strip() or None
    return changes


def _under(book, name: str, ancestor: str) -> bool:
    parents = {c.name: c.parent for c in book.codes}
    node, steps = parents.get(name), 0
    while node is not None and steps < 50:
        if node == ancestor:
            return True
        node, steps = parents.get(node), steps + 1
    return False


def diff(result: dict) -> None:
    """What changed between two versions, code by code."""
    st.markdown(f"**{safe.text(result['from'])} \u2192 {safe.text(result['to'])}**")
    lines = [f"- added **{safe.text(n)}**" for n in result["added"]]
    lines += [f"- removed **{safe.text(n)}**" for n in result["removed"]]
    lines += [f"- renamed **{safe.text(r['from'])}** \u2192 **{safe.text(r['to'])}**" for r in result["renamed"]]
    for name, fields in result["changed"].items():
        lines.append(f"- changed **{safe.text(name)}**: " + ", ".join(f.replace("_", " ") for f in fields))
    if result.get("codebook_fields"):
        lines.append("- changed the codebook's " + " and ".join(result["codebook_fields"]))
    st.markdown("\n".join(lines) if lines else "No changes to codes.")
    for name, fields in result["changed"].items():
        with st.expander(f"{safe.text(name)}: before and after"):
            for field, change in fields.items():
                st.markdown(f"*{field.replace('_', ' ')}*")
                c1, c2 = st.columns(2)
                c1.markdown(f"<div style='background:#fdecea;padding:4px 8px'>{safe.text(_text(change['from']))}</div>",
                            unsafe_allow_html=True)
                c2.markdown(f"<div style='background:#e8f5e9;padding:4px 8px'>{safe.text(_text(change['to']))}</div>",
                            unsafe_allow_html=True)


def _text(value) -> str:
    if isinstance(value, list):
        return " | ".join(v if isinstance(v, str) else json.dumps(v) for v in value) or "(none)"
    return str(value) if value not in (None, "") else "(none)"


def versions(frame: pd.DataFrame, *, key: str) -> None:
    st.dataframe(frame, hide_index=True, key=key, height=min(300, 36 * (len(frame) + 1)),
                 column_config={"created_at": st.column_config.DatetimeColumn("saved", format="YYYY-MM-DD HH:mm")})
