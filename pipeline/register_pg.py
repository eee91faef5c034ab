"""The case register in PostgreSQL/PostGIS: one register shared by many analysts and surveys.

``--cases postgresql://USER@HOST:PORT/DB`` keeps the register in a database instead of a
GeoPackage, behind the same functions of :mod:`pipeline.cases`. The schema is versioned with
Alembic (``pipeline/pg_migrations``) and brought up to date on first use. Writers hold a
PostgreSQL advisory lock for their read-modify-write (the survey's case matching needs one
consistent view of the register) and write in one transaction: concurrent surveys and
imports wait for each other and lose nothing; a crashed writer's lock goes with its
connection; readers see the last committed register.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geodata.errors import InputError

PREFIXES = ("postgresql://", "postgres://", "postgresql+psycopg://")
#: The advisory lock keys of the register's writers and of its schema migrations.
WRITE_KEY, MIGRATE_KEY = 0x5C0_CA5E, 0x5C0_5C4E
#: Each table's columns, in order (``geometry`` is PostGIS geometry in the register's CRS).
TABLES: dict[str, list[str]] = {
    "observations": ["task_id", "survey_id", "survey_date", "category", "object_class",
                     "area_m2", "confidence", "parcel_id", "district", "squad", "source",
                     "checks", "geometry"],
    "surveys": ["survey_id", "survey_date", "processed_at", "n_inputs", "imagery", "geometry"],
    "cases": ["task_id", "category", "object_class", "status", "first_seen", "last_seen",
              "surveys", "n_surveys", "area_m2", "first_area_m2", "max_area_m2",
              "resolved_on", "resolved_by", "parcel_id", "district", "squad", "squad_result",
              "squad_result_date", "squad_note", "review", "reviewed_by", "reviewed_at",
              "geometry"],
    "squad_results": ["task_id", "result", "result_date", "note", "imported_at", "source",
                      "photo"],
    "reviews": ["review_id", "task_id", "survey_id", "action", "reason", "category",
                "object_class", "reviewer", "reviewed_at", "note", "parcel_id", "district",
                "squad", "geometry"],
}
_INT_COLUMNS = {"n_inputs", "n_surveys"}


def is_database(ref: object) -> bool:
    """Whether a ``--cases`` value names a PostgreSQL database."""
    return isinstance(ref, str) and ref.startswith(PREFIXES)


def register_ref(ref: Path | str) -> Path | str:
    """A ``--cases`` value as the register functions take it: a URL as given, else a Path."""
    return ref if is_database(ref) else Path(ref)


def redacted(url: str) -> str:
    """The URL without its password (for messages)."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


@cache
def engine(url: str) -> Any:
    """An SQLAlchemy engine on psycopg 3 (no pool: surveys run in separate processes)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    sa_url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return create_engine(sa_url, poolclass=NullPool)


def migrate(url: str) -> None:
    """Bring the register's schema to the newest version (Alembic), one process at a time."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("pg_migrations")))
    with engine(url).begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATE_KEY})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


#: Databases whose schema this process has brought up to date (once is enough).
_MIGRATED: set[str] = set()


def check(url: str) -> None:
    """Connect and bring the schema up to date, once per process.

    A clear error when the database is not there.

    Raises:
        InputError: cannot connect, or the database lacks PostGIS.

    """
    from sqlalchemy.exc import SQLAlchemyError

    if url in _MIGRATED:
        return
    try:
        migrate(url)
        _MIGRATED.add(url)
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise InputError(f"{redacted(url)}: cannot use the case register database "
                         f"({first})") from None


@contextmanager
def lock(url: str, holder: str, wait_s: float,
         notify: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the register for one read-modify-write (a session advisory lock).

    Raises:
        InputError: the register stayed locked for ``wait_s`` seconds.

    """
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    check(url)
    conn = engine(url).connect()
    try:
        conn.execute(text("SELECT set_config('application_name', :n, false)"),
                     {"n": f"skypatrol: {holder}"[:63]})
        conn.commit()
        if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": WRITE_KEY}).scalar():
            held_by = conn.execute(text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.objid = :k LIMIT 1"), {"k": WRITE_KEY}).scalar() or "another writer"
            if notify is not None:
                notify(f"waiting for the register {redacted(url)} held by {held_by}")
            conn.execute(text("SELECT set_config('lock_timeout', :t, false)"),
                         {"t": f"{int(wait_s * 1000)}ms"})
            try:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": WRITE_KEY})
            except OperationalError:
                raise InputError(f"{redacted(url)}: the case register is still held by "
                                 f"{held_by} after {wait_s:g} s; try again when it is done"
                                 ) from None
        conn.commit()
        yield
    finally:
        try:
            conn.rollback()  # a failed wait leaves the transaction aborted
            conn.execute(text("SELECT pg_advisory_unlock_all()"))
            conn.commit()
        finally:
            conn.close()


def stored_crs(url: str) -> CRS | None:
    """The CRS of the register's geometries (None before the first survey)."""
    check(url)
    with engine(url).connect() as conn:
        return _stored_crs(conn)


def _stored_crs(conn: Any) -> CRS | None:
    from sqlalchemy import text

    wkt = conn.execute(text("SELECT value FROM register_meta WHERE key = 'crs'")).scalar()
    return CRS.from_wkt(wkt) if wkt else None


def read(url: str, crs: CRS | str) -> dict[str, gpd.GeoDataFrame]:
    """The register's tables as frames in ``crs`` (one consistent snapshot)."""
    from sqlalchemy import text

    check(url)
    want = CRS.from_user_input(crs)
    out: dict[str, Any] = {}
    with engine(url).connect() as conn:
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        stored = _stored_crs(conn) or want
        for table, columns in TABLES.items():
            cols = [c for c in columns if c != "geometry"]
            order = "id" if table in ("observations", "squad_results", "reviews") else cols[0]
            if "geometry" in columns:
                sql = (f"SELECT {', '.join(cols)}, ST_AsBinary(geometry) AS geometry "
                       f"FROM {table} ORDER BY {order}")
                df = gpd.read_postgis(text(sql), conn, geom_col="geometry", crs=stored)
                if len(df) == 0:
                    df = gpd.GeoDataFrame(pd.DataFrame({c: [] for c in cols}),
                                          geometry=gpd.GeoSeries([], crs=stored), crs=stored)
                out[table] = df.to_crs(want) if stored != want else df
            else:
                out[table] = pd.read_sql(text(f"SELECT {', '.join(cols)} FROM {table} "
                                              f"ORDER BY {order}"), conn)
        conn.rollback()
    return out


def _value(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating | float):
        return None if math.isnan(float(v)) else float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if v is pd.NaT:
        return None
    return v


def write(url: str, layers: dict[str, Any]) -> None:
    """Replace the register's tables with ``layers`` in one transaction."""
    from sqlalchemy import text

    with engine(url).begin() as conn:
        stored = _stored_crs(conn)
        crs = next((df.crs for df in layers.values()
                    if isinstance(df, gpd.GeoDataFrame) and df.crs is not None), None)
        if stored is None and crs is not None:
            stored = CRS.from_user_input(crs)
            conn.execute(text("INSERT INTO register_meta (key, value) VALUES ('crs', :w)"),
                         {"w": stored.to_wkt()})
        srid = (stored.to_epsg() or 0) if stored is not None else 0
        for table, columns in TABLES.items():
            conn.execute(text(f"DELETE FROM {table}"))
            df = layers.get(table)
            if df is None or len(df) == 0:
                continue
            if isinstance(df, gpd.GeoDataFrame) and stored is not None and df.crs is not None \
                    and CRS.from_user_input(df.crs) != stored:
                df = df.to_crs(stored)
            cols = [c for c in columns if c != "geometry"]
            values = ", ".join(f":{c}" for c in cols)
            if "geometry" in columns:
                values += ", ST_GeomFromWKB(:geometry, :srid)"
            sql = text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})")
            rows = []
            for rec in df.to_dict("records"):
                row = {c: _value(rec.get(c)) for c in cols}
                for c in _INT_COLUMNS & set(row):
                    row[c] = None if row[c] is None else int(row[c])
                if "geometry" in columns:
                    g = rec.get("geometry")
                    row["geometry"] = None if g is None or g.is_empty else shapely.to_wkb(g)
                    row["srid"] = srid
                rows.append(row)
            conn.execute(sql, rows)
