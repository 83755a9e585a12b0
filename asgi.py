"""What ``insight app`` serves: ``app.py`` as a Streamlit ``st.App`` (an ASGI application), so that
every HTTP response carries the security headers of :class:`insight.serve.SecurityHeaders`
(Content-Security-Policy, X-Frame-Options ...): Streamlit has no setting for response headers,
and ``st.App`` is its supported way to add ASGI middleware.

``streamlit run asgi.py`` (what :func:`insight.serve.serve` starts) finds ``app`` below.
"""

from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware

from insight.serve import SecurityHeaders

app = st.App(Path(__file__).resolve().with_name("app.py"), middleware=[Middleware(SecurityHeaders)])
