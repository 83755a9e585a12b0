"""Insight's Streamlit workbench: ``insight app [--db PATH] [--port N]`` (or ``make demo``).

A thin layer over :class:`insight.Workspace`: the pages in ``pages/`` read through
:mod:`insight.ui.db` (cached) and make one library call per action. The database path comes from
``$INSIGHT_DB``.
"""

import streamlit as st

from insight import access
from insight.ui import db, shell

st.set_page_config(page_title="Insight", page_icon=":material/forum:", layout="wide")
access.require_login(db.db_path())  # a login form (and nothing else) when a password or OIDC is set

PAGES = {
    "Study": [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("pages/upload.py", title="Upload", icon=":material/upload:"),
        st.Page("pages/browse.py", title="Browse", icon=":material/search:"),
    ],
    "Codebook": [
        st.Page("pages/codebook.py", title="Codebook", icon=":material/account_tree:"),
        st.Page("pages/refine.py", title="Test & refine", icon=":material/rule:"),
        st.Page("pages/coding.py", title="Code", icon=":material/label:"),
        st.Page("pages/agreement.py", title="Agreement", icon=":material/handshake:"),
    ],
    "Findings": [
        st.Page("pages/themes.py", title="Themes", icon=":material/bubble_chart:"),
        st.Page("pages/export.py", title="Export", icon=":material/download:"),
    ],
}

page = st.navigation(PAGES)
shell.sidebar()
try:
    page.run()
finally:
    # Hold no connection between runs, so the CLI can write while the app is open.
    db.release()
