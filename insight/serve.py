"""Starting the Streamlit app: localhost by default; another address only with a password.

The address is judged as the server will bind it: an empty host means every interface, a name is
resolved, and only an address that is provably loopback (every address it resolves to) counts as
local. Everything else is the network, which needs a login (:func:`insight.access.login_configured`).

The server runs ``asgi.py`` (``app.py`` as a ``st.App``), so that every HTTP response carries
:data:`HEADERS` (Streamlit has no setting for response headers; ``st.App`` takes ASGI middleware),
with production settings (:data:`SERVER_FLAGS`): no file watcher, no rerun on save, no error
details in the browser, XSRF protection on.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from insight.errors import InsightError

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
ASGI = ROOT / "asgi.py"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
SERVER_FLAGS = {
    "server.headless": "true",
    "server.fileWatcherType": "none",  # a served app does not change: no inotify watches on every file
    "server.runOnSave": "false",
    "server.enableXsrfProtection": "true",
    "client.showErrorDetails": "none",  # a bug's traceback goes to the terminal, not to the browser
    "client.toolbarMode": "minimal",
    "browser.gatherUsageStats": "false",
}
# Nothing is loaded from elsewhere (images, scripts, frames, connections): a payload in the data that
# got past the app's escaping still cannot make a browser fetch an outside address. No other site
# may frame the app. 'unsafe-inline' and 'unsafe-eval' for scripts: Streamlit's page and its charts
# need them.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; media-src 'self' data: blob:; "
       "worker-src 'self' blob:; frame-src 'self' blob: data:; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'self'")
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "SAMEORIGIN",  # the passage view is a frame of the app itself
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def bound_addresses(host: str | None) -> set[str] | None:
    """The IP addresses a server told to listen on ``host`` binds; ``None`` when that is every
    interface (an empty host, as Streamlit and its servers read it) or the name does not resolve.

    >>> bound_addresses("127.0.0.1"), bound_addresses(""), bound_addresses("  ")
    ({'127.0.0.1'}, None, None)
    """
    if host is None or not host.strip():
        return None
    try:
        found = socket.getaddrinfo(host.strip(), None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError, ValueError):
        return None
    return {str(info[4][0]).split("%")[0] for info in found} or None


def is_loopback(host: str | None) -> bool:
    """Whether a server on ``host`` is reachable from this machine only: every address it binds is
    loopback. An empty host (every interface), an unresolvable name, ``0.0.0.0``, ``::``, a LAN
    address or a Unix socket are not.

    >>> [is_loopback(h) for h in ("localhost", "127.0.0.1", "::1", "127.1", "", "0.0.0.0", "::", "0")]
    [True, True, True, True, False, False, False, False]
    """
    addresses = bound_addresses(host)
    if not addresses:
        return False
    try:
        return all(ipaddress.ip_address(a).is_loopback for a in addresses)
    except ValueError:
        return False


def command(host: str, port: int, max_upload_mb: int) -> list[str]:
    """The ``streamlit run`` command line for ``asgi.py`` on ``host:port``."""
    cmd = [sys.executable, "-m", "streamlit", "run", str(ASGI), "--server.address", host, "--server.port", str(port),
           "--server.maxUploadSize", str(max_upload_mb)]
    for option, value in SERVER_FLAGS.items():
        cmd += [f"--{option}", value]
    if is_loopback(host):  # a page on another site that resolves its name to 127.0.0.1 is refused (DNS rebinding)
        for name in dict.fromkeys([*LOOPBACK_HOSTS, host.strip()]):
            cmd += ["--server.allowedHosts", name]
    return cmd


def serve(db: str, *, host: str = "localhost", port: int = 8501) -> None:
    """Run ``streamlit run asgi.py`` on ``host:port`` over the database ``db``."""
    from insight.access import MAX_UPLOAD_MB, lead_exists, login_configured

    if not is_loopback(host):
        where = repr(host) + (" (every network interface)" if not (host or "").strip() else "")
        if not login_configured(db):
            raise InsightError(
                f"Refusing to serve on {where}: other machines could read participants' data without a password.",
                hint="Set one first with `insight password set` (or configure Streamlit's OpenID Connect login), "
                     "or serve on localhost.",
            )
        if not lead_exists(db):
            raise InsightError(f"Refusing to serve on {where}: no lead can log in to manage the team.",
                               hint="Add one first: insight users add NAME --role lead")
    for path in (APP, ASGI):
        if not path.exists():
            raise InsightError(f"The app file {path} is missing.", hint="Reinstall Insight from its source tree.")
    env = dict(os.environ, INSIGHT_DB=str(Path(db).resolve()), HF_HUB_OFFLINE="1")
    shown = host.strip() or "0.0.0.0"
    print(f"Insight is running at http://{'[' + shown + ']' if ':' in shown else shown}:{port}  (Ctrl+C to stop)",
          flush=True)
    run_server(command(host, port, MAX_UPLOAD_MB), env)


class SecurityHeaders:
    """ASGI middleware: :data:`HEADERS` on every HTTP response (``asgi.py`` puts it before Streamlit's)."""

    def __init__(self, app):
        self.app = app
        self.headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in HEADERS.items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {k for k, _ in self.headers}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + self.headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def run_server(cmd: list[str], env: dict) -> None:
    """Run the Streamlit server until it exits. A service manager's SIGTERM (or SIGHUP) to this
    process stops the server too, instead of leaving it holding the port and the database."""
    proc = subprocess.Popen(cmd, env=env)

    def stop(signum, frame):  # noqa: ARG001
        proc.terminate()

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), stop)
    try:
        proc.wait()
    except KeyboardInterrupt:  # Ctrl+C reaches Streamlit too: give it a moment to shut down
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
