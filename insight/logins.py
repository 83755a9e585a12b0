"""Failed log-ins, counted per account and per address on the server, so that guessing slows down
for everyone who tries, in every browser session and across reloads.

The counts live in ``insight.duckdb.logins.json`` beside the database (not in the database: a log-in
must work while another process writes it), guarded by a lock file (``filelock``) because every
app session and process shares them. After :data:`FREE` failures a key waits 5 s, then 10 s, 20 s
... up to 15 minutes before the next try, and a try during the wait is refused without checking
the password. A successful log-in clears the account's and the address's counts.

>>> wait_after(3), wait_after(4), wait_after(5), wait_after(40)
(0, 5, 10, 900)
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

from insight.errors import InsightError

FREE = 3
FIRST_WAIT, MAX_WAIT = 5, 900
FORGET_AFTER = 24 * 3600  # a key with no failure for a day starts again


class LoginThrottled(InsightError):
    """Too many failed log-ins for this account or address: wait before the next try."""


def _now() -> float:
    return time.time()


def wait_after(failures: int) -> int:
    """Seconds to wait after ``failures`` failed tries in a row."""
    if failures <= FREE:
        return 0
    return min(FIRST_WAIT * 2 ** (failures - FREE - 1), MAX_WAIT)


def counts_file(db) -> Path:
    path = Path(str(db))
    return path.with_name(path.name + ".logins.json")


def keys(name: str | None, address: str | None) -> list[str]:
    """What a try counts against: the account (by name, ignoring case) and the address it came from."""
    found = ["account:" + " ".join(str(name or "").split()).casefold()]
    if address:
        found.append("address:" + address)
    return found


@contextmanager
def _counts(db):
    """The counts, locked for the block; what the block leaves in the dict is written back."""
    from filelock import FileLock

    path = counts_file(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=10):
        try:
            data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        except (OSError, ValueError):
            data = {}  # a damaged file only forgets failures; never a way in
        before = dict(data)
        yield data
        if data != before:
            tmp = path.with_name(path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.replace(tmp, path)


def _remaining(entry: dict, now: float) -> int:
    return max(0, int(entry.get("last", 0) + wait_after(int(entry.get("failures", 0))) - now + 0.999))


def check_allowed(db, tried: list[str], *, now: float | None = None) -> None:
    """Raise :class:`LoginThrottled` while any of ``tried`` must still wait."""
    now = _now() if now is None else now
    with _counts(db) as data:
        waits = {k: _remaining(data[k], now) for k in tried if k in data}
    worst = max(waits.values(), default=0)
    if worst:
        key = max(waits, key=waits.get)
        what = "this account" if key.startswith("account:") else "this address"
        raise LoginThrottled(f"Too many failed log-ins for {what} ({data[key]['failures']} in a row): "
                             f"try again in {worst} s.", hint="Ask a lead to reset the password if it is lost.")


def failed(db, tried: list[str], *, now: float | None = None) -> int:
    """Count a failed try against each key; returns the seconds before the next try is allowed."""
    now = _now() if now is None else now
    with _counts(db) as data:
        for key in tried:
            entry = data.get(key) or {}
            if now - entry.get("last", now) > FORGET_AFTER:
                entry = {}
            data[key] = {"failures": int(entry.get("failures", 0)) + 1, "last": now}
        return max((_remaining(data[k], now) for k in tried), default=0)


def succeeded(db, tried: list[str]) -> None:
    """A successful log-in clears its keys."""
    with _counts(db) as data:
        for key in tried:
            data.pop(key, None)


def failures(db, key: str) -> int:
    """How many failed tries in a row ``key`` has (for tests and ``insight users list``)."""
    with _counts(db) as data:
        return int((data.get(key) or {}).get("failures", 0))
