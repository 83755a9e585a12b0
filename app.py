"""Insight's Streamlit workbench (placeholder until the app issue lands)."""

import os

import streamlit as st

from insight import Workspace
from insight.errors import InsightError

st.set_page_config(page_title="Insight", layout="wide")
st.title("Insight")
try:
    ws = Workspace(os.environ.get("INSIGHT_DB"), read_only=True)
    data = ws.stats()
    ws.close()
    cols = st.columns(4)
    for col, key in zip(cols, ["documents", "segments", "participants", "speakers"]):
        col.metric(key.title(), data[key])
    st.bar_chart(data["documents_by_kind"])
except InsightError as exc:
    st.error(str(exc))
