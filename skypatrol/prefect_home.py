"""Prefect's local database made once, before any engine starts: first runs can be concurrent."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from filelock import FileLock


def prepare_prefect_home() -> Path | None:
    """Create and migrate Prefect's local SQLite database under a lock, once.

    Without ``PREFECT_API_URL`` every command starts Prefect's ephemeral API, which creates
    its database on first use; two first runs at once both create it, and one fails ("table
    ... already exists"). The migration is done here, under a lock beside the database, by the
    first command; the others wait and find it made. Returns the database path, or None when
    a server or another database is configured.
    """
    if os.environ.get("PREFECT_API_URL"):
        return None
    from prefect.settings import get_current_settings

    url = get_current_settings().server.database.connection_url
    secret = url.get_secret_value() if url is not None else ""
    prefix = "sqlite+aiosqlite:///"
    if not secret.startswith(prefix):
        return None
    db = Path(secret.removeprefix(prefix))
    db.parent.mkdir(parents=True, exist_ok=True)
    done = db.with_name(db.name + ".skypatrol-ready")
    if done.exists() and db.exists():
        return db
    with FileLock(str(db) + ".skypatrol-lock"):
        if not (done.exists() and db.exists()):
            from prefect.server.database import provide_database_interface

            asyncio.run(provide_database_interface().create_db())
            done.touch()
    return db
