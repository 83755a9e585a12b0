"""Who may open the app and what they may do: accounts per person, roles, slowed log-ins, expiring
sessions, upload limits.

- On localhost with no password and no account, whoever runs the app is the lead.
- A file beside the database (``insight.duckdb.access.json``, mode 0600) holds scrypt hashes:
  one per person (``insight users add NAME --role lead|coder|viewer``) and, from before accounts,
  one per role (``insight password set [--role viewer]``; the old ``researcher`` is a lead). Once
  an account exists the app asks for a name and a password, the role passwords no longer open it,
  and every coding records the person logged in.
- Streamlit's OpenID Connect login (an ``[auth]`` section in ``.streamlit/secrets.toml``) is the
  other way in; its users are viewers unless their email is listed in ``[insight] leads`` (or the
  older ``researchers``) or ``[insight] coders``.
- Failed log-ins are counted per account and per address in ``insight.duckdb.logins.json``, shared
  by every session and process, so a reload does not reset them; after three, each further attempt
  waits longer (5 s, 10 s, 20 s ... up to 15 minutes) and is refused unchecked until then.
- A session ends after ``INSIGHT_SESSION_HOURS`` (default 8) hours without a page run.
- ``insight app --host`` on any address but loopback refuses to start until a lead can log in.

Roles: ``lead`` (everything: codebook, assignments, adjudication, re-identification), ``coder``
(codes, as themselves; memos; undo of their own changes) and ``viewer`` (reads pseudonymised text,
themes and exports; changes nothing).

>>> can_edit("lead"), can_edit("researcher"), can_edit("coder"), may("coder", "code_passage"), may("viewer", "accept")
(True, True, False, True, False)
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import inspect
import json
import os
import secrets
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from insight import config
from insight.errors import InsightError

ROLES = ("lead", "coder", "viewer")
ROLE_PASSWORDS = ("researcher", "viewer")  # the role passwords from before accounts (researcher = lead)
CONSENSUS = "Consensus"  # the coder that holds the lead's adjudicated decisions (insight/team.py)
MIN_LENGTH = 10
MAX_UPLOAD_MB = int(config.env("MAX_UPLOAD_MB", "200"))
SESSION_HOURS = float(config.env("SESSION_HOURS", "8"))
SESSION_KEY, USER_KEY, SEEN_KEY = "insight.role", "insight.user", "insight.seen"
# What a coder may do in the app: code as themselves, decide suggestions, memos, undo their own changes.
CODER_VERBS = frozenset({"code_passage", "code_segment", "uncode_segment", "remove_coding", "recode",
                         "set_coding_memo", "accept", "reject", "undo", "add_memo"})
IDENTITY = ("coder", "actor", "author", "lead")  # the arguments of a write that name who does it
# scrypt at n=2**15, r=8, p=1: about 64 MiB and a tenth of a second per guess (OWASP's floor is 2**17
# for interactive logins on servers; a local research app trades a little of that for a quick login)
_N, _R, _P, _DKLEN = 2 ** 15, 8, 1, 32


@dataclass(frozen=True)
class Login:
    """Who is using an app session: a person's name (``None`` for a role password or no login) and a role."""

    role: str
    user: str | None = None


def lead_role(role: str | None) -> str | None:
    """The role a stored or legacy name means: ``researcher`` (before accounts) is a lead."""
    return "lead" if role == "researcher" else role


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
                           hint="Restore it from a backup, or delete it and add the accounts again "
                                "with `insight users add`.") from None
    return data if isinstance(data, dict) else {}


def _write(db, data: dict) -> Path:
    """Replace the password file atomically, readable by its owner only."""
    if str(db) == ":memory:":
        raise InsightError("An in-memory database cannot have passwords or accounts.")
    path = password_file(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not data:
        path.unlink(missing_ok=True)
        return path
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
    os.replace(tmp, path)
    return path


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
    except (ValueError, TypeError, AttributeError):
        return False
    return hmac.compare_digest(got, expected)


def _check_length(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InsightError(f"The password is too short ({len(password)} characters).",
                           hint=f"Use at least {MIN_LENGTH}; a few unrelated words make a good one.")


def set_password(db, password: str, role: str = "researcher") -> Path:
    """Store a hash of ``password`` for a role (``researcher`` or ``viewer``); returns the file written."""
    if role not in ROLE_PASSWORDS:
        raise InsightError(f"Unknown role {role!r}.", hint="Use researcher or viewer.")
    _check_length(password)
    data = _read(db)
    for other in ROLE_PASSWORDS:
        if other != role and other in data and verify_password(password, data[other]):
            raise InsightError(f"That password is already the {other}'s.", hint="Give each role its own password.")
    data[role] = hash_password(password)
    return _write(db, data)


def remove_password(db, role: str | None = None) -> bool:
    """Remove one role's password (or both); returns whether anything was removed. Accounts stay."""
    data = _read(db)
    gone = [r for r in ROLE_PASSWORDS if r in data and (role is None or r == role)]
    for r in gone:
        del data[r]
    if gone:
        _write(db, data)
    return bool(gone)


def roles_with_password(db) -> list[str]:
    return [r for r in ROLE_PASSWORDS if r in _read(db)]


def password_configured(db) -> bool:
    """True when a role password or an account is set for ``db`` (or ``INSIGHT_PASSWORD_HASH`` holds a
    researcher hash)."""
    return bool(config.env("PASSWORD_HASH")) or bool(roles_with_password(db)) or bool(users(db))


def check_password(db, password: str) -> str | None:
    """The role a role password opens (``researcher`` or ``viewer``), or ``None``.

    >>> import tempfile, os
    >>> db = os.path.join(tempfile.mkdtemp(), "t.duckdb")
    >>> _ = set_password(db, "a long researcher password")
    >>> check_password(db, "a long researcher password"), check_password(db, "wrong")
    ('researcher', None)
    """
    if not password:
        return None
    stored = {r: h for r, h in _read(db).items() if r in ROLE_PASSWORDS}
    if config.env("PASSWORD_HASH"):
        stored.setdefault("researcher", config.env("PASSWORD_HASH"))
    for role in ROLE_PASSWORDS:
        if role in stored and verify_password(password, stored[role]):
            return role
    return None


# ---------------------------------------------------------------------------------------------
# Accounts: one per person


def _clean_name(name: str) -> str:
    name = unicodedata.normalize("NFC", " ".join(str(name or "").split()))
    if not name or len(name) > 60 or any(unicodedata.category(ch)[0] == "C" for ch in name):
        raise InsightError(f"{name!r} cannot be an account name.",
                           hint="Use the person's name or initials as it should appear on their codings "
                                "(1 to 60 characters).")
    if name.lower().startswith("auto:") or name.lower() == CONSENSUS.lower():
        raise InsightError(f"{name!r} is reserved (auto-coders and the adjudicated consensus).",
                           hint="Use the person's own name.")
    return name


def users(db) -> list[dict]:
    """The accounts: name, role and when each was added (never the hash), by name."""
    stored = _read(db).get("users") or {}
    return [{"name": n, "role": u.get("role"), "created_at": u.get("created_at")} for n, u in sorted(stored.items())]


def _find(data: dict, name: str) -> str | None:
    """The stored spelling of an account name (names match ignoring case and extra spaces)."""
    key = " ".join(str(name or "").split()).casefold()
    return next((n for n in data.get("users") or {} if n.casefold() == key), None)


def add_user(db, name: str, password: str, role: str = "coder") -> dict:
    """Add an account; returns it (name, role). A name is unique regardless of case."""
    name = _clean_name(name)
    if role not in ROLES:
        raise InsightError(f"Unknown role {role!r}.", hint="Use lead, coder or viewer.")
    _check_length(password)
    data = _read(db)
    if _find(data, name):
        raise InsightError(f"There is already an account called {_find(data, name)!r}.",
                           hint="Change its password with `insight users passwd NAME`, or pick another name.")
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    data.setdefault("users", {})[name] = {"role": role, "hash": hash_password(password), "created_at": when}
    _write(db, data)
    return {"name": name, "role": role, "created_at": when}


def _existing(data: dict, name: str) -> str:
    found = _find(data, name)
    if not found:
        known = ", ".join(sorted(data.get("users") or {})) or "none yet"
        raise InsightError(f"There is no account called {name!r}.", hint=f"Accounts: {known} (insight users list).")
    return found


def set_user_password(db, name: str, password: str) -> str:
    """Give an account a new password; returns the account's name."""
    _check_length(password)
    data = _read(db)
    found = _existing(data, name)
    data["users"][found]["hash"] = hash_password(password)
    _write(db, data)
    return found


def remove_user(db, name: str) -> str:
    """Remove an account (its codings stay, under its name). The last lead goes only with the others."""
    data = _read(db)
    found = _existing(data, name)
    accounts = data["users"]
    leads = [n for n, u in accounts.items() if u.get("role") == "lead"]
    if leads == [found] and len(accounts) > 1:
        raise InsightError(f"{found} is the only lead; the others could not be managed without one.",
                           hint="Add another lead first (insight users add NAME --role lead).")
    del accounts[found]
    if not accounts:
        del data["users"]
    _write(db, data)
    return found


def require_account(db, name: str) -> None:
    """Once accounts exist, work can be given only to someone who can log in."""
    data = _read(db)
    if data.get("users") and _find(data, name) != name:
        raise InsightError(f"{name!r} has no account, so they could not log in to code it.",
                           hint="Accounts: " + ", ".join(sorted(data["users"])) + " (insight users add NAME).")


def check_user(db, name: str, password: str) -> Login | None:
    """The account ``name`` with ``password`` opens, or ``None`` (the same work whether or not the name exists)."""
    data = _read(db)
    found = _find(data, name)
    stored = data["users"][found]["hash"] if found else _dummy_hash()
    ok = verify_password(password or "", stored)
    return Login(data["users"][found]["role"], found) if ok and found else None


@functools.cache
def _dummy_hash() -> str:
    """A hash to check a password against when the name is unknown, so that timing does not tell."""
    return hash_password("no such account", salt=b"0" * 16)


def lead_exists(db) -> bool:
    """Whether a lead can log in: a lead account, the researcher password, or OpenID Connect (whose
    ``[insight] leads`` say who leads)."""
    if any(u["role"] == "lead" for u in users(db)):
        return True
    return (not users(db) and (bool(config.env("PASSWORD_HASH")) or "researcher" in roles_with_password(db))) \
        or oidc_configured()


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
    """Whether the app can tell who is there: a password, an account or OpenID Connect."""
    return password_configured(db) or oidc_configured()


# ---------------------------------------------------------------------------------------------
# What each role may do


def can_edit(role: str | None) -> bool:
    """Leads change the study (codebook, ingest, pseudonymise, assignments); coders only code."""
    return lead_role(role) == "lead"


def can_code(role: str | None) -> bool:
    """Leads and coders code; viewers only read."""
    return lead_role(role) in ("lead", "coder")


def can_reidentify(role: str | None) -> bool:
    """Only leads may see originals (the pseudonym review list, reveal, reverse)."""
    return lead_role(role) == "lead"


def may(role: str | None, verb: str) -> bool:
    """Whether ``role`` may make the writing :class:`~insight.Workspace` call ``verb``."""
    return can_edit(role) or (lead_role(role) == "coder" and verb in CODER_VERBS)


def require_edit(role: str | None, what: str = "change this") -> None:
    """Raise :class:`InsightError` unless ``role`` may change the study (call before any write)."""
    if not can_edit(role):
        who = "A viewer" if lead_role(role) in (None, "viewer") else "A coder"
        raise InsightError(f"{who} cannot {what}.", hint="Ask a lead, or log in as one.")


def require(login: Login | None, verb: str, bound: dict | None = None) -> None:
    """Raise :class:`InsightError` unless ``login`` may call ``verb`` with these arguments: the role
    allows it, and every argument that names who acts (coder, actor, author, lead) names the person
    logged in (a coder must say so; a lead may leave it out). Checked before anything is written."""
    role = login.role if login else None
    if not may(role, verb):
        require_edit(role, "change the study (" + verb.replace("_", " ") + ")")
    if login is None or login.user is None or bound is None:
        return
    for name in IDENTITY:
        if name not in bound:
            continue
        value = bound[name]
        if value is None and can_edit(role):
            continue
        if value != login.user:
            raise InsightError(f"{login.user} cannot act as {value or 'anyone'!r}.",
                               hint="Every change is recorded under the person logged in.")


def bind(function, *args, **kwargs) -> dict:
    """The arguments a call would get, defaults included (for :func:`require`)."""
    bound = inspect.signature(function).bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


# ---------------------------------------------------------------------------------------------
# Streamlit


def current_login() -> Login | None:
    """Who is using this app session: set by :func:`require_login`; ``None`` before."""
    import streamlit as st

    role = st.session_state.get(SESSION_KEY)
    return Login(role, st.session_state.get(USER_KEY)) if role else None


def current_role() -> str | None:
    """The role of whoever is using this app session (``lead``, ``coder`` or ``viewer``)."""
    login = current_login()
    return lead_role(login.role) if login else None


def current_user() -> str | None:
    """The logged-in person's name (accounts and OpenID Connect), else ``None``."""
    login = current_login()
    return login.user if login else None


def _start(login: Login) -> None:
    import streamlit as st

    st.session_state[SESSION_KEY] = lead_role(login.role)
    st.session_state[USER_KEY] = login.user
    st.session_state[SEEN_KEY] = time.time()


def _expired() -> bool:
    import streamlit as st

    seen = st.session_state.get(SEEN_KEY)
    return seen is not None and time.time() - seen > SESSION_HOURS * 3600


def require_login(db: str | None = None) -> str:
    """Call at the top of ``app.py``: returns the session's role, or shows a login form and stops.

    No password, no account and no OpenID Connect: the local user is the lead. Accounts: a form
    asks for a name and a password. Role passwords (before accounts): a form asks for the password.
    OpenID Connect: a log-in button (``st.login``); the email decides the role. A session idle for
    longer than ``INSIGHT_SESSION_HOURS`` logs in again.
    """
    import streamlit as st

    from insight.store import resolve_path

    db = resolve_path(db)
    if st.session_state.get(SESSION_KEY) in ROLES:
        if not _expired():
            st.session_state[SEEN_KEY] = time.time()
            return st.session_state[SESSION_KEY]
        logout()
        st.session_state["insight.login.expired"] = True
    if password_configured(db):
        _password_form(db)
    if oidc_configured():
        return _oidc_login()
    _start(Login("lead"))
    return "lead"


def _password_form(db) -> None:
    """The log-in form; a successful log-in reruns the app, anything else stops it here."""
    import streamlit as st

    from insight import logins

    accounts = bool(users(db))
    st.title("Insight")
    if st.session_state.pop("insight.login.expired", False):
        st.info(f"Your session ended after {SESSION_HOURS:g} hours without use. Log in again.")
    with st.form("insight.login", clear_on_submit=True):
        name = st.text_input("Your name", key="insight.login.name") if accounts else ""
        password = st.text_input("Password", type="password", key="insight.login.password")
        submitted = st.form_submit_button("Log in")
    if submitted:
        keys = logins.keys(name if accounts else "(role password)", _address())
        try:
            logins.check_allowed(db, keys)
        except InsightError as exc:
            st.error(str(exc))
            st.stop()
        login = check_user(db, name, password) if accounts else _role_login(db, password)
        if login:
            logins.succeeded(db, keys)
            _start(login)
            st.rerun()
        wait = logins.failed(db, keys)
        st.error(("That name and password do not match." if accounts else "That password is not right.")
                 + (f" Too many failed log-ins: wait {wait} s before the next try." if wait else ""))
    st.stop()


def _role_login(db, password: str) -> Login | None:
    role = check_password(db, password)
    return Login(lead_role(role)) if role else None


def _address() -> str | None:
    import streamlit as st

    try:
        address = st.context.ip_address
    except Exception:  # older Streamlit, or no request behind this run
        return None
    return address if isinstance(address, str) else None


def _oidc_login() -> str:
    import streamlit as st

    user = getattr(st, "user", None)
    if user is None or not user.get("is_logged_in", False):
        st.title("Insight")
        st.button("Log in", on_click=st.login, key="insight.login.oidc")
        st.stop()
    settings = st.secrets.get("insight", {})
    email = str(user.get("email", "")).lower()
    leads = {e.lower() for e in [*settings.get("leads", []), *settings.get("researchers", [])]}
    coders = {e.lower() for e in settings.get("coders", [])}
    role = "lead" if email in leads else "coder" if email in coders else "viewer"
    _start(Login(role, str(user.get("name") or user.get("email") or "") or None))
    return role


def logout() -> None:
    """Forget the session's login (the next run asks again)."""
    import streamlit as st

    for key in (SESSION_KEY, USER_KEY, SEEN_KEY):
        st.session_state.pop(key, None)
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
