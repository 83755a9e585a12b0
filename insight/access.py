"""Who may open the app: a password (stored hashed) for serving beyond localhost."""

from __future__ import annotations

import os


def password_configured(db: str) -> bool:
    """True when a password hash is set (``INSIGHT_PASSWORD_HASH``) for serving to others."""
    return bool(os.environ.get("INSIGHT_PASSWORD_HASH"))
