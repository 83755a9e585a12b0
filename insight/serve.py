"""Starting the Streamlit app: localhost by default; another address only with a password."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
from pathlib import Path

from insight.errors import InsightError

APP = Path(__file__).resolve().parent.parent / "app.py"


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(db: str, *, host: str = "localhost", port: int = 8501) -> None:
    """Run ``streamlit run app.py`` on ``host:port`` over the database ``db``."""
    from insight.access import MAX_UPLOAD_MB, lead_exists, login_configured

    if not is_loopback(host):
        if not login_configured(db):
            raise InsightError(
                f"Refusing to serve on {host}: other machines could read participants' data without a password.",
                hint="Set one first with `insight password set` (or configure Streamlit's OpenID Connect login), "
                     "or serve on localhost.",
            )
        if not lead_exists(db):
            raise InsightError(f"Refusing to serve on {host}: no lead can log in to manage the team.",
                               hint="Add one first: insight users add NAME --role lead")
    if not APP.exists():
        raise InsightError(f"The app file {APP} is missing.", hint="Reinstall Insight from its source tree.")
    env = dict(os.environ, INSIGHT_DB=str(Path(db).resolve()), HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.address", host, "--server.port", str(port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.maxUploadSize", str(MAX_UPLOAD_MB)]
    print(f"Insight is running at http://{host}:{port}  (Ctrl+C to stop)", flush=True)
    run_server(cmd, env)


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
