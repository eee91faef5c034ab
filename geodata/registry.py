"""The parcel registry of the contract: read it, validate it, refuse it with named problems."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from geodata.errors import InvalidRegistryError, Problem

LAND_USES = ("residential", "commercial", "industrial", "public", "green", "road", "water", "other")
STRUCTURE_KINDS = ("building", "shed")

#: layer -> (required columns, id column or None, allowed geometry types)
SCHEMA: dict[str, tuple[tuple[str, ...], str | None, tuple[str, ...]]] = {
    "parcels": (("parcel_id", "land_use", "district"), "parcel_id", ("Polygon", "MultiPolygon")),
    "permitted_structures": (
        ("permit_id", "parcel_id", "kind"),
        "permit_id",
        ("Polygon", "MultiPolygon"),
    ),
    "billboard_permits": (
        ("permit_id", "valid_until"),
        "permit_id",
        ("Point", "MultiPoint", "Polygon", "MultiPolygon"),
    ),
    "jurisdictions": (("district", "squad"), None, ("Polygon", "MultiPolygon")),
}


@dataclass(frozen=True)
class Registry:
    """A validated parcel registry; every layer is in ``crs`` (projected, metres)."""

    path: Path
    crs: CRS
    parcels: gpd.GeoDataFrame
    permitted_structures: gpd.GeoDataFrame
    billboard_permits: gpd.GeoDataFrame
    jurisdictions: gpd.GeoDataFrame

    @cached_property
    def permitted_union(self) -> BaseGeometry:
        """Every permitted footprint as one geometry (empty when there is none)."""
        return shapely.union_all(self.permitted_structures.geometry)

    @cached_property
    def permitted_by_kind(self) -> dict[str, BaseGeometry]:
        """The permitted footprints of each kind (``building``, ``shed``) as one geometry."""
        p = self.permitted_structures
        return {k: shapely.union_all(p[p.kind == k].geometry) for k in ("building", "shed")}


def _feature_name(df: pd.DataFrame, idx: object, id_col: str | None) -> str:
    if id_col and id_col in df.columns:
        val = df.at[idx, id_col]
        if isinstance(val, str) and val:
            return f"'{val}'"
    return f"fid {idx}"


def _parse_date(value: object) -> dt.date | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


#: Characters that are not allowed in XML 1.0 (and print as nothing): not valid in an id.
_CONTROL_CHARS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


def _check_layer(
    src: str, layer: str, df: gpd.GeoDataFrame, problems: list[Problem]
) -> gpd.GeoDataFrame:
    columns, id_col, geom_types = SCHEMA[layer]
    for col in columns:
        if col not in df.columns:
            problems.append(
                Problem(src, f"required column missing (have: {', '.join(df.columns)})", layer, col)
            )
    if id_col and id_col in df.columns:
        ids = df[id_col]
        for idx in df.index[ids.isna() | (ids.astype(str).str.strip() == "")]:
            problems.append(Problem(src, "empty id", layer, id_col, f"fid {idx}"))
        for idx in df.index[ids.astype(str).str.contains(_CONTROL_CHARS, regex=True)
                            & ids.notna()]:
            problems.append(Problem(src, "id contains control characters (they break KML, "
                                    "XML and spreadsheets); remove them", layer, id_col,
                                    f"fid {idx}"))
        dup = ids[ids.duplicated(keep=False) & ids.notna()]
        for value in sorted(set(dup.astype(str))):
            problems.append(Problem(src, "duplicate id", layer, id_col, f"'{value}'"))
    geoms = df.geometry
    for idx, geom in geoms.items():
        name = _feature_name(df, idx, id_col)
        if geom is None or geom.is_empty:
            problems.append(Problem(src, "empty or missing geometry", layer, "geometry", name))
            continue
        if geom.geom_type not in geom_types:
            problems.append(
                Problem(
                    src,
                    f"geometry type {geom.geom_type}, expected {' or '.join(geom_types)}",
                    layer,
                    "geometry",
                    name,
                )
            )
            continue
        if not geom.is_valid:
            reason = shapely.is_valid_reason(geom)
            problems.append(
                Problem(
                    src,
                    f"invalid geometry ({reason}); repair it (e.g. GIS 'make valid')",
                    layer,
                    "geometry",
                    name,
                )
            )
    return df


def _check_allowed(src: str, df: gpd.GeoDataFrame | None, layer: str, column: str,
                   allowed: tuple[str, ...], problems: list[Problem],
                   why: str | None = None) -> None:
    """One problem per feature whose ``column`` value is not in ``allowed``."""
    if df is None or column not in df.columns:
        return
    id_col = SCHEMA[layer][1]
    ok = set(allowed)
    for idx, value in df[column].items():
        if str(value) not in ok:
            msg = f"{column} '{value}' " + (why or f"is not one of {', '.join(allowed)}")
            problems.append(Problem(src, msg, layer, column, _feature_name(df, idx, id_col)))


def read_registry(path: str | os.PathLike[str]) -> Registry:
    """Read and validate a registry GeoPackage against the contract's schema.

    Every problem is collected before refusing, so one run tells the user everything to fix.

    Raises:
        InvalidRegistryError: with one :class:`Problem` per violation of the schema.

    """
    p = Path(path)
    src = str(p)
    if not p.exists():
        raise InvalidRegistryError([Problem(src, "file not found")])
    try:
        available = {name for name, _ in pyogrio.list_layers(p)}
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise InvalidRegistryError([Problem(src, f"not a readable GeoPackage ({exc})")]) from exc
    problems: list[Problem] = []
    frames: dict[str, gpd.GeoDataFrame] = {}
    for layer in SCHEMA:
        if layer not in available:
            have = ", ".join(sorted(available)) or "none"
            problems.append(Problem(src, f"layer missing (layers present: {have})", layer))
            continue
        df = gpd.read_file(p, layer=layer, engine="pyogrio")
        frames[layer] = _check_layer(src, layer, df, problems)

    crs_seen: dict[str, CRS | None] = {name: df.crs for name, df in frames.items()}
    for layer, crs in crs_seen.items():
        if crs is None:
            problems.append(Problem(src, "layer has no CRS", layer))
        elif not crs.is_projected:
            problems.append(
                Problem(
                    src,
                    f"CRS {crs.to_string()} is geographic; the registry must be in one projected "
                    "CRS in metres (e.g. EPSG:4549)",
                    layer,
                )
            )
    distinct = {c.to_wkt() for c in crs_seen.values() if c is not None}
    if len(distinct) > 1:
        listing = "; ".join(
            f"{name}={c.to_string() if c else 'none'}" for name, c in crs_seen.items()
        )
        problems.append(Problem(src, f"layers are in different CRSs ({listing})"))

    parcels = frames.get("parcels")
    structures = frames.get("permitted_structures")
    _check_allowed(src, parcels, "parcels", "land_use", LAND_USES, problems)
    _check_allowed(src, structures, "permitted_structures", "kind", STRUCTURE_KINDS, problems)
    if parcels is not None and "parcel_id" in parcels.columns:
        known = tuple(parcels["parcel_id"].astype(str))
        _check_allowed(src, structures, "permitted_structures", "parcel_id", known, problems,
                       "is not in layer 'parcels'")
    boards = frames.get("billboard_permits")
    if boards is not None and "valid_until" in boards.columns:
        parsed: list[dt.date | None] = []
        for idx, value in boards["valid_until"].items():
            try:
                parsed.append(_parse_date(value))
            except (ValueError, TypeError):
                parsed.append(None)
                problems.append(
                    Problem(
                        src,
                        f"valid_until '{value}' is not a date (YYYY-MM-DD) or null",
                        "billboard_permits",
                        "valid_until",
                        _feature_name(boards, idx, "permit_id"),
                    )
                )
        boards = boards.copy()
        boards["valid_until"] = pd.Series(parsed, index=boards.index, dtype=object)
        frames["billboard_permits"] = boards
    jur = frames.get("jurisdictions")
    if jur is not None:
        for col in ("district", "squad"):
            if col in jur.columns:
                for idx in jur.index[jur[col].isna() | (jur[col].astype(str).str.strip() == "")]:
                    problems.append(Problem(src, "empty value", "jurisdictions", col, f"fid {idx}"))

    if problems:
        raise InvalidRegistryError(problems)
    crs = CRS.from_user_input(frames["parcels"].crs)
    return Registry(
        path=p,
        crs=crs,
        parcels=frames["parcels"],
        permitted_structures=frames["permitted_structures"],
        billboard_permits=frames["billboard_permits"],
        jurisdictions=frames["jurisdictions"],
    )


def write_registry(
    path: str | os.PathLike[str],
    *,
    parcels: gpd.GeoDataFrame,
    permitted_structures: gpd.GeoDataFrame,
    billboard_permits: gpd.GeoDataFrame,
    jurisdictions: gpd.GeoDataFrame,
) -> Path:
    """Write the four layers of a registry to one GeoPackage (overwriting the file)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.unlink(missing_ok=True)
    layers = {
        "parcels": parcels,
        "permitted_structures": permitted_structures,
        "billboard_permits": billboard_permits,
        "jurisdictions": jurisdictions,
    }
    for name, df in layers.items():
        df.to_file(p, layer=name, driver="GPKG", engine="pyogrio")
    return p
