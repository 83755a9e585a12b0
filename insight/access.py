"""Who may open the app and what they may do: passwords (stored hashed), two roles, upload limits.

- On localhost with no password set, whoever runs the app is the researcher.
- A password file beside the database (``insight.duckdb.access.json``, mode 0600) holds a scrypt
  hash and salt per role; ``insight password set [--role viewer]`` writes it. When it exists the
  app asks for a password, even on localhost; the password given decides the role.
- Streamlit's OpenID Connect login (an ``[auth]`` section in ``.streamlit/secrets.toml``) is the
  other way in; its users are viewers unless their email is listed in ``[insight] researchers``.
- ``insight app --host`` on any address but loopback refuses to start unless one of these is set.

Roles: ``researcher`` (everything) and ``viewer`` (reads pseudonymised text, themes and exports;
no edits and no re-identification).

>>> can_edit("researcher"), can_edit("viewer"), can_edit(None)
(True, False, False)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from insight import config
from insight.errors import InsightError

ROLES = ("researcher", "viewer")
MIN_LENGTH = 10
MAX_UPLOAD_MB = int(config.env("MAX_UPLOAD_MB", "200"))
SESSION_KEY = "insight.role"
# scrypt at n=2**15, r=8, p=1: about 64 MiB and a tenth of a second per guess (OWASP's floor is 2**17
# for interactive logins on servers; a local research app trades a little of that for a quick login)
_N, _R, _P, _DKLEN = 2 ** 15, 8, 1, 32


def password_file(db: str | os.PathLike) -> Path:
    """Where the password hashes for ``db`` live: beside it, so a copy of the folder keeps them."""
    path = Path(str(db))
    return path.with_name(path.name + ".access.json")


def _read(db) -> dict:
    path = password_file(db)
    if str(db) == ":memory:" or not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InsightError(f"The password file {path} cannot be read ({exc}).",
                           hint="Delete it and set the password again with `insight password set`.") from None
    return data if isinstance(data, dict) else {}


def hash_password(password: str, *, salt: bytes | None = None, n: int = _N, r: int = _R, p: int = _P) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64): what is stored, never the password.

    >>> h = hash_password("correct horse battery", n=2**10)
    >>> h.startswith("scrypt$1024$8$1$"), verify_password("correct horse battery", h), verify_password("x", h)
    (True, True, False)
    """
    salt = salt or secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_DKLEN, maxmem=256 * 1024 * 1024)
    enc = base64.b64encode
    return f"scrypt${n}${r}${p}${enc(salt).decode()}${enc(key).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a :func:`hash_password` string (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(expected), maxmem=256 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def set_password(db, password: str, role: str = "researcher") -> Path:
    """Store a hash of ``password`` for ``role``; returns the file written (mode 0600)."""
    if role not in ROLES:
        raise InsightError(f"Unknown role {role!r}.", hint="Use researcher or viewer.")
    if len(password) < MIN_LENGTH:
        raise InsightError(f"The password is too short ({len(password)} characters).",
                           hint=f"Use at least {MIN_LENGTH}; a few unrelated words make a good one.")
    if str(db) == ":memory:":
        raise InsightError("An in-memory database cannot have a password.")
    data = _read(db)
    for other, stored in data.items():
        if other != role and verify_password(password, stored):
            raise InsightError(f"That password is already the {other}'s.", hint="Give each role its own password.")
    data[role] = hash_password(password)
    path = password_file(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)
    return path


def remove_password(db, role: str | None = None) -> bool:
    """Remove one role's password (or all); returns whether anything was removed."""
    data = _read(db)
    if not data:
        return False
    if role is None:
        data = {}
    elif role in data:
        del data[role]
    else:
        return False
    path = password_file(db)
    if data:
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    else:
        path.unlink()
    return True


def roles_with_password(db) -> list[str]:
    return [r for r in ROLES if r in _read(db)]


def password_configured(db) -> bool:
    """True when a password is set for ``db`` (or ``INSIGHT_PASSWORD_HASH`` holds a researcher hash)."""
    return bool(config.env("PASSWORD_HASH")) or bool(roles_with_password(db))


def check_password(db, password: str) -> str | None:
    """The role this password opens (``researcher`` or ``viewer``), or ``None``.

    >>> import tempfile, os
    >>> db = os.path.join(tempfile.mkdtemp(), "t.duckdb")
    >>> _ = set_password(db, "a long researcher password")
    >>> check_password(db, "a long researcher password"), check_password(db, "wrong")
    ('researcher', None)
    """
    if not password:
        return None
    stored = dict(_read(db))
    if config.env("PASSWORD_HASH"):
        stored.setdefault("researcher", config.env("PASSWORD_HASH"))
    for role in ROLES:
        if role in stored and verify_password(password, stored[role]):
            return role
    return None


def oidc_configured(folders: list[Path] | None = None) -> bool:
    """True when Streamlit's OpenID Connect login is set up: ``.streamlit/secrets.toml`` (in the
    working folder or the home folder) has an ``[auth]`` section with a client id or providers."""
    import tomllib

    for folder in folders or [Path.cwd(), Path.home()]:
        path = Path(folder) / ".streamlit" / "secrets.toml"
        if not path.exists():
            continue
        try:
            auth = tomllib.loads(path.read_text(encoding="utf-8")).get("auth")
        except (OSError, ValueError):
            continue
        if isinstance(auth, dict) and auth.get("cookie_secret") and (
                auth.get("client_id") or any(isinstance(v, dict) and v.get("client_id") for v in auth.values())):
            return True
    return False


def login_configured(db) -> bool:
    """Whether the app can tell who is there: a password or OpenID Connect."""
    return password_configured(db) or oidc_configured()


def can_edit(role: str | None) -> bool:
    """Researchers change things (code, edit codebooks, ingest, pseudonymise); viewers only read."""
    return role == "researcher"


def can_reidentify(role: str | None) -> bool:
    """Only researchers may see originals (the pseudonym review list, reveal, reverse)."""
    return role == "researcher"


def require_edit(role: str | None, what: str = "change this") -> None:
    """Raise :class:`InsightError` unless ``role`` may edit (call before any write in the app)."""
    if not can_edit(role):
        raise InsightError(f"A viewer cannot {what}.", hint="Ask a researcher, or log in with the researcher password.")


# ---------------------------------------------------------------------------------------------
# Streamlit


def current_role() -> str | None:
    """The role of whoever is using this app session: set by :func:`require_login`; ``None`` before."""
    import streamlit as st

    return st.session_state.get(SESSION_KEY)


def require_login(db: str | None = None) -> str:
    """Call at the top of ``app.py``: returns the session's role, or shows a login form and stops.

    No password and no OpenID Connect: the local user is the researcher. A password file: a form
    asks for it until one matches. OpenID Connect: a log-in button (``st.login``); the email
    decides the role (``[insight] researchers = [...]`` in secrets.toml). ``INSIGHT_DB`` names the
    database when ``db`` is not given.
    """
    import streamlit as st

    from insight.store import resolve_path

    db = resolve_path(db)
    role = st.session_state.get(SESSION_KEY)
    if role in ROLES:
        return role
    if password_configured(db):
        failures = st.session_state.get("insight.login.failures", 0)
        st.title("Insight")
        with st.form("insight.login", clear_on_submit=True):
            password = st.text_input("Password", type="password", key="insight.login.password")
            submitted = st.form_submit_button("Log in")
        if submitted:
            if failures >= 5:
                import time

                time.sleep(min(2 ** (failures - 5), 30))  # slows guessing; the scrypt cost does the rest
            role = check_password(db, password)
            if role:
                st.session_state[SESSION_KEY] = role
                st.session_state.pop("insight.login.failures", None)
                st.rerun()
            st.session_state["insight.login.failures"] = failures + 1
            st.error("That password is not right.")
        st.stop()
    if oidc_configured():
        user = getattr(st, "user", None)
        if user is None or not user.get("is_logged_in", False):
            st.title("Insight")
            st.button("Log in", on_click=st.login, key="insight.login.oidc")
            st.stop()
        researchers = {e.lower() for e in st.secrets.get("insight", {}).get("researchers", [])}
        role = "researcher" if str(user.get("email", "")).lower() in researchers else "viewer"
        st.session_state[SESSION_KEY] = role
        return role
    st.session_state[SESSION_KEY] = "researcher"
    return "researcher"


def logout() -> None:
    """Forget the session's role (the next run asks again)."""
    import streamlit as st

    st.session_state.pop(SESSION_KEY, None)
    if getattr(st, "user", None) is not None and st.user.get("is_logged_in", False):
        st.logout()


# ---------------------------------------------------------------------------------------------
# Uploads


def check_upload(name: str, size: int, *, max_mb: int | None = None) -> str:
    """Refuse an upload that is too large or of a type no reader knows; returns a safe file name
    (the last path part, so ``../../x.txt`` cannot land outside the upload folder).

    >>> check_upload("../../notes.TXT", 10)
    'notes.TXT'
    """
    from insight.readers import supported_suffixes

    limit = MAX_UPLOAD_MB if max_mb is None else max_mb
    safe = Path(str(name).replace("\\", "/")).name.strip()
    if not safe or safe in (".", "..") or "\x00" in safe:
        raise InsightError(f"The file name {name!r} is not usable.", hint="Rename the file and upload it again.")
    suffix = Path(safe).suffix.lower()
    known = supported_suffixes()
    if suffix not in known and suffix not in (".yaml", ".yml", ".qdc"):
        raise InsightError(f"{safe}: Insight cannot read {suffix or 'files without an extension'!r} files.",
                           hint="Supported: " + ", ".join(known) + " (and .yaml/.qdc codebooks).")
    if size > limit * 1024 * 1024:
        raise InsightError(f"{safe} is {size / 1024 / 1024:.1f} MB; uploads are limited to {limit} MB.",
                           hint="Split it, or ingest it from the command line: insight ingest PATH "
                                "(or raise INSIGHT_MAX_UPLOAD_MB).")
    if size == 0:
        raise InsightError(f"{safe} is empty.", hint="Check that the export finished, then upload it again.")
    return safe
