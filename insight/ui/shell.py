"""What every page shares: the sidebar (study, coder), error display, colours and small widgets."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import traceback
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from insight import access
from insight.errors import DatabaseLocked, InsightError, without_flags
from insight.ui import db, safe

APP = Path(__file__).resolve().parent.parent.parent / "app.py"
ALL_STUDIES = "All studies"
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173"]
UNEXPECTED = "Unexpected error"


# -- the sidebar -------------------------------------------------------------------------------


def sidebar() -> None:
    """Database, study and coder: drawn by ``app.py`` on every page."""
    with st.sidebar:
        st.caption("Database: " + safe.text(Path(db.db_path()).name))
        studies: list[str] = []
        if db.gate().exists():
            with guard():
                studies = db.read("studies")
        if len(studies) > 1:
            st.selectbox("Study", [ALL_STUDIES, *studies], key="shell.study")
        else:
            st.session_state["shell.study_only"] = studies[0] if studies else None
        user = access.current_user()
        if user:  # an account (or OpenID Connect): every coding is theirs, no name to type
            st.caption(f"Logged in as **{safe.text(user)}** ({access.current_role()})")
        else:
            if "shell.coder" not in st.session_state:
                st.session_state["shell.coder"] = st.query_params.get("coder", "")
            st.text_input("Your name (recorded on every coding)", key="shell.coder", placeholder="e.g. Priya Shah")
            _remember_coder()
            if not coder():
                st.caption("Type your name once: the Code, Codebook and Test & refine pages record it.")
            if access.login_configured(db.db_path()):
                st.caption(f"Logged in as **{access.current_role()}**")
        if access.login_configured(db.db_path()):
            st.button("Log out", key="shell.logout", on_click=access.logout)
        message = db.locked()
        if message:
            say("Read-only for now: " + message, "warning")
            st.button("Try again", key="shell.retry", on_click=db.release)


def _remember_coder() -> None:
    # Keep the name in the address too (page changes clear it), so a reload does not forget it.
    name = coder()
    if name and st.query_params.get("coder") != name:
        st.query_params["coder"] = name
    elif not name and "coder" in st.query_params:
        del st.query_params["coder"]


def study() -> str | None:
    """The study the pages show (``None``: every study)."""
    chosen = st.session_state.get("shell.study")
    if chosen and chosen != ALL_STUDIES:
        return chosen
    if chosen == ALL_STUDIES:
        return None
    return st.session_state.get("shell.study_only")


def coder() -> str:
    """Who codes: the person logged in (accounts, OpenID Connect), else the name typed in the sidebar."""
    return access.current_user() or (st.session_state.get("shell.coder") or "").strip()


def is_lead() -> bool:
    return access.can_edit(access.current_role())


def coders_allowed(coders: list[str]) -> list[str] | None:
    """Whose codings this person may see in whole-study figures and exports while samples are blind:
    ``None`` (everyone) for a lead or when nothing is blind; a coder with a blind sample, only
    themselves; anyone else, everyone but the coders of blind samples."""
    if is_lead():
        return None
    me = coder() or None
    if me and not db.read("team.blind_for", me).empty:
        return [me]
    hidden = db.read("team.blind_coders", me)
    return [c for c in coders if c not in hidden] if hidden else None


def visible(frame):
    """``frame`` (with a ``coding_id`` column) less the codings this person may not see while samples
    are blind (:func:`insight.team.hidden_codings`)."""
    if frame.empty or is_lead():
        return frame
    hidden = db.read("team.hidden_codings", coder() or None)
    return frame[~frame["coding_id"].isin(hidden)] if hidden else frame


def require_coder() -> str | None:
    """The coder's name, or a warning saying where to type it."""
    name = coder()
    if not name:
        st.warning("Type your name in the sidebar first: every coding and edit records who made it.")
        return None
    return name


def require_database() -> bool:
    """False (with a pointer to the Upload page) when there is no database file yet."""
    if db.gate().exists():
        return True
    st.info(f"There is no database {safe.text(Path(db.db_path()).name)} yet. Start on the Upload page: the first "
            "import creates it.")
    st.page_link("pages/upload.py", label="Upload files", icon=":material/upload:")
    return False


def require_documents() -> bool:
    """False (with a pointer to the Upload page) when the study has no documents yet."""
    if not require_database():
        return False
    with guard():
        if db.read("stats", study())["documents"]:
            return True
        st.info("There are no documents yet. Import transcripts, notes, diaries or panel exports first.")
        st.page_link("pages/upload.py", label="Upload files", icon=":material/upload:")
    return False


# -- errors ------------------------------------------------------------------------------------


@contextmanager
def guard(action: str | None = None):
    """Show library errors as ``st.error`` (never a traceback) and go on with the page."""
    try:
        yield
    except DatabaseLocked as exc:
        say(str(exc) + " The app keeps showing what it read before; try again when the other process is done.")
    except InsightError as exc:
        say(without_flags(str(exc)))  # the app has no command-line flags
    except Exception as exc:  # a bug: say so plainly, keep the details for the terminal
        traceback.print_exc(file=sys.stderr)
        what = f" while trying to {action}" if action else ""
        say(f"{UNEXPECTED}{what}: {exc.__class__.__name__}: {exc}. This is a bug in Insight; the details "
            "are in the terminal that runs the app.")


def say(message: str, kind: str = "error") -> None:
    """A message box whose text may hold data (file, code and coder names) and server paths:
    the paths cut to file names, the rest drawn as text (:mod:`insight.ui.safe`)."""
    getattr(st, kind)(safe.text(without_paths(message)))


_PATH = re.compile(r"(?<![\w.:/\\])(?:[A-Za-z]:)?[\\/](?:[^\\/\s'\"`,;()]+[\\/])+(?=[^\\/\s'\"`,;()])")


def without_paths(message: str) -> str:
    """``message`` with every server path cut to its file name (``/srv/data/x.txt`` is ``x.txt``):
    the folders a server keeps its database, uploads and temporary files in are nobody's business
    in the browser. Known folders go first (their names may hold spaces), then anything that looks
    like an absolute path.

    >>> without_paths("/tmp/insight-codebook-x1/book.yaml, line 3: bad; see /srv/data/c.csv (02/12/2026)")
    'book.yaml, line 3: bad; see c.csv (02/12/2026)'
    """
    folders = {tempfile.gettempdir(), str(Path.home()), os.getcwd(), str(Path(db.db_path()).parent)}
    for folder in sorted((f for f in folders if len(f) > 1), key=len, reverse=True):
        message = re.sub(re.escape(folder.rstrip("/\\")) + r"[\\/](?:[^\\/\n:;,()'\"`]*[\\/])*", "", message)
    return _PATH.sub("", message)


def run_action(label: str, verb: str, *args, spinner: str | None = None, **kwargs):
    """``db.act`` with a spinner and errors shown in place; returns the result or ``None``."""
    with guard(label):
        with st.spinner(spinner or f"{label.capitalize()} ..."):
            return db.act(verb, *args, **kwargs)
    return None


def flash(message: str, kind: str = "success") -> None:
    """A message that survives the rerun that follows an action."""
    st.session_state.setdefault("shell.flash", []).append((kind, message))


def show_flash() -> None:
    for kind, message in st.session_state.pop("shell.flash", []):
        say(message, kind)


# -- colours and text --------------------------------------------------------------------------


def code_colours(book) -> dict[str, str]:
    """A colour per code: its own, else its parent's, else one from the palette."""
    if book is None:
        return {}
    own = {c.name: c.colour for c in book.codes}
    parents = {c.name: c.parent for c in book.codes}
    out = {}
    for i, code in enumerate(book.codes):
        name, colour = code.name, None
        while name is not None and colour is None:
            colour = own.get(name)
            name = parents.get(name)
        out[code.name] = colour or PALETTE[i % len(PALETTE)]
    return out


def colour_for(code: str, colours: dict[str, str]) -> str:
    return colours.get(code) or PALETTE[sum(map(ord, code)) % len(PALETTE)]


def chip(code: str, colours: dict[str, str]) -> str:
    """A code as a small coloured label (HTML, escaped)."""
    colour = colour_for(code, colours)
    return (f"<span style='border-left:4px solid {colour};background:{colour}22;padding:1px 6px;"
            f"border-radius:3px;margin-right:4px;font-size:0.85em;white-space:nowrap'>{safe.text(code)}</span>")


def quote(text: str, caption: str | None = None) -> None:
    """A quotation from the data, with where it comes from."""
    body = safe.text(text)
    cap = f"<div style='color:#666;font-size:0.8em;margin-top:2px'>{safe.text(caption)}</div>" if caption else ""
    st.markdown(f"<blockquote style='margin:0 0 8px 0;padding:4px 10px;border-left:3px solid #bbb'>"
                f"{body}{cap}</blockquote>", unsafe_allow_html=True)


def clock(ms) -> str | None:
    """A time in milliseconds as ``hh:mm:ss`` (``None`` when there is none)."""
    import pandas as pd

    if ms is None or pd.isna(ms):
        return None
    seconds = int(ms) // 1000
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


KIND_ORDER = {"interview": 0, "fieldnotes": 1, "diary": 2, "panel": 3}


def transcripts_first(documents):
    """Documents with transcripts first (the richest to read and code), then field notes, diaries
    and panel answers, each kind in the order it arrived."""
    return documents.assign(_order=documents["kind"].map(KIND_ORDER).fillna(9)).sort_values(
        ["_order", "document_id"]).drop(columns="_order")


def short(text: str, n: int = 90) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def fmt(x, digits: int = 2) -> str:
    return "\u2013" if x is None or x != x else f"{x:.{digits}f}"


def current_codebook():
    """The latest version of the default codebook, or ``None`` when there is none."""
    books = db.read("codebooks")
    if books.empty:
        return None
    try:
        return db.read("codebook")
    except InsightError:
        return None


def page(title: str, caption: str | None = None) -> None:
    """The page title, its one-line purpose and any message left by the last action."""
    _through_app()
    st.title(title)
    if caption:
        st.caption(caption)
    show_flash()


def _through_app() -> None:
    """Make sure ``app.py`` drew this page.

    Until some run calls ``st.navigation``, Streamlit treats ``pages/`` as an old-style page folder
    and runs a page named in the address (``/coding``) on its own, without ``app.py``: no sidebar,
    no page settings. That happens to the first page opened in a fresh server (and to every run
    under ``AppTest``). Then the page runs ``app.py`` in its place, whose navigation picks this same
    page, and stops: the page is drawn once, through ``app.py``, in the same run (a rerun would lose
    the button press that started it).
    """
    import runpy

    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        runpy.run_path(str(APP), run_name="__main__")
        st.stop()


def parse_json(value) -> dict:
    """A JSON column (run settings, summaries) as a dict; ``{}`` when empty or not JSON."""
    if isinstance(value, dict):
        return value
    try:
        return json.loads(value) if value else {}
    except (TypeError, ValueError):
        return {}
