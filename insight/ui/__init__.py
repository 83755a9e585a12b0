"""The Streamlit workbench's building blocks: the database gate (:mod:`insight.ui.db`), the page
shell (:mod:`insight.ui.shell`) and one module of render functions per page.

Render functions take library results and draw them; every action goes through
:func:`insight.ui.db.act`, which makes exactly one :class:`insight.Workspace` call.
Importing this package does not import Streamlit; the modules that draw do.
"""
