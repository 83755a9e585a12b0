"""Export: one card per format with a prepare button, a download button and what was written."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from insight.ui import safe

MIME = {".csv": "text/csv", ".parquet": "application/vnd.apache.parquet",
        ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ".md": "text/markdown", ".html": "text/html",
        ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ".qdpx": "application/zip", ".qdc": "application/xml"}
COUNTS = ("rows", "sections", "quotes", "participants", "codes", "sources", "codings", "cases", "notes")


def download(prepared: dict | None, *, key: str) -> None:
    """The download button for a prepared file, with a line saying what is in it."""
    if not prepared:
        return
    data, summary, name = prepared["data"], prepared["summary"], prepared["name"]
    suffix = "." + name.rsplit(".", 1)[-1]
    st.download_button(f"Download {safe.text(name)}", data, file_name=name, mime=MIME.get(suffix), key=key,
                       icon=":material/download:", type="primary")
    counts = ", ".join(f"{summary[k]:,} {k}" for k in COUNTS if isinstance(summary.get(k), int))
    st.caption(f"{len(data):,} bytes" + (f": {counts}" if counts else "") + ".")


def heatmap(frame: pd.DataFrame, *, title: str, key: str, zlabel: str) -> None:
    import plotly.express as px

    if frame.empty:
        st.caption("Nothing to show yet.")
        return
    frame = frame.rename(index=safe.plot, columns=safe.plot)  # code names and attribute values: text, not tags
    fig = px.imshow(frame, text_auto=True, aspect="auto", color_continuous_scale="Blues", labels={"color": zlabel})
    fig.update_layout(height=max(320, 22 * len(frame) + 160), margin=dict(l=10, r=10, t=10, b=10))
    st.caption(title)
    fig.update_xaxes(side="top", title=None, tickangle=-40)
    fig.update_yaxes(title=None)
    st.plotly_chart(fig, key=key)
