"""Survey ingest: find the inputs, hash them, validate them fully, quarantine the bad ones."""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import rasterio
from PIL import Image
from rasterio.enums import Interleaving
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.vrt import WarpedVRT
from shapely.geometry import box, mapping
from shapely.geometry.base import BaseGeometry

from geodata.crs import round_coords, to_wgs84
from geodata.errors import InputError, InvalidImageryError
from geodata.georef import (
    FramePose,
    NoHeightError,
    NoPoseError,
    Placement,
    read_dji_pose,
    read_tello_pose,
    tello_sidecar,
)
from pipeline.quality import QualityConfig, measure, measure_photo

RASTER_SUFFIXES = {".tif", ".tiff", ".vrt", ".jp2"}
PHOTO_SUFFIXES = {".jpg", ".jpeg"}
SIDECAR_SUFFIXES = {".json"}
#: Files that travel with imagery and are not imagery: GDAL's side files (.aux.xml, .ovr,
#: .msk, world files), DJI's RTK and flight records (.MRK, .obs, .nav, .bin, .SRT, .LRF),
#: RAW photos and videos (.DNG, .MP4, .MOV), logs as CSV, and checksums. Folders are full
#: of them; they are passed over, never "unusable inputs".
SIDE_FILE_SUFFIXES = {".xml", ".ovr", ".msk", ".tfw", ".tifw", ".jgw", ".wld", ".prj",
                      ".mrk", ".obs", ".nav", ".bin", ".srt", ".lrf", ".md5",
                      ".sha256", ".dng", ".mp4", ".mov", ".csv"}
#: Vector data (GeoPackage, GeoJSON, Shapefile, KML: flight plans, boundaries, a world's
#: truth) found in an imagery folder is passed over too; named as imagery it is refused
#: with its own reason (a registry given where imagery goes is a common slip).
VECTOR_SUFFIXES = {".gpkg", ".geojson", ".shp", ".shx", ".dbf", ".cpg", ".kml", ".kmz"}


class Reason(StrEnum):
    """Why an input was quarantined."""

    NOT_FOUND = "not_found"
    NOT_AN_IMAGE = "not_an_image"
    CORRUPT_JPEG = "corrupt_jpeg"
    CORRUPT_RASTER = "corrupt_raster"
    NO_CRS = "no_crs"
    NO_TRANSFORM = "no_transform"
    NO_GPS = "no_gps"
    NO_POSE_SIDECAR = "no_pose_sidecar"
    NO_HEIGHT = "no_height"
    UNUSABLE_IMAGERY = "unusable_imagery"


class SurveyError(InputError):
    """The survey as a whole cannot be processed (empty, or too many bad inputs)."""


@dataclass(frozen=True)
class IngestConfig:
    """Ingest policy.

    Attributes:
        max_skip_ratio: the survey fails when more than this share of inputs is quarantined.
        quality: the image-quality gate orthophotos must pass.
        placement: how photos without a height above ground (non-DJI cameras) are placed.

    """

    max_skip_ratio: float = 0.5
    quality: QualityConfig = field(default_factory=QualityConfig)
    placement: Placement = field(default_factory=Placement)

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_skip_ratio <= 1.0:
            raise ValueError(f"max_skip_ratio must be within 0..1, got {self.max_skip_ratio}")


@dataclass(frozen=True)
class InputRecord:
    """One input file as ``summary.json`` reports it (the survey's evidence chain)."""

    source: str
    sha256: str | None
    kind: str  # orthophoto | dji_photo | tello_capture | unknown
    status: str  # ok | skipped
    reason: str | None = None
    detail: str | None = None
    gsd_cm: float | None = None
    footprint: dict[str, Any] | None = None  # GeoJSON geometry, WGS84

    def to_json(self) -> dict[str, Any]:
        """The record as plain JSON data."""
        return {
            "source": self.source, "sha256": self.sha256, "kind": self.kind,
            "status": self.status, "reason": self.reason, "detail": self.detail,
            "gsd_cm": None if self.gsd_cm is None else round(self.gsd_cm, 3),
            "footprint": self.footprint,
        }


@dataclass(frozen=True)
class Ingested:
    """A validated input: its record, and for photos the camera pose."""

    record: InputRecord
    frame: FramePose | None = None
    footprint_crs: BaseGeometry | None = None  # ground coverage in the analysis CRS


@dataclass
class IngestReport:
    """Every input of a survey: the good ones to process and the quarantined ones."""

    items: list[Ingested] = field(default_factory=list)

    @property
    def ok(self) -> list[Ingested]:
        """Inputs that passed validation."""
        return [i for i in self.items if i.record.status == "ok"]

    @property
    def skipped(self) -> list[Ingested]:
        """Quarantined inputs."""
        return [i for i in self.items if i.record.status == "skipped"]

    def records(self) -> list[dict[str, Any]]:
        """The ``inputs`` list of ``summary.json``."""
        return [i.record.to_json() for i in self.items]


def is_url(s: str) -> bool:
    """Whether an input names a URL (s3://, https://, ...) rather than a local file."""
    return "://" in s and not s.startswith("file://")


def discover(inputs: Sequence[str | Path]) -> list[str]:
    """Expand folders (recursively) into image files; keep files and URLs as given.

    Sidecar JSON files are not inputs of their own: they travel with their Tello capture.
    """
    out: list[str] = []
    for item in inputs:
        s = str(item)
        if is_url(s):
            out.append(s)
            continue
        p = Path(s)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                hidden = f.name.startswith(".")
                if f.is_file() and not is_side_file(f) and not hidden \
                        and f.suffix.lower() not in VECTOR_SUFFIXES:
                    out.append(str(f))
        elif not is_side_file(p):
            out.append(s)
    return list(dict.fromkeys(out))


def is_side_file(path: Path) -> bool:
    """A file that accompanies imagery (a sidecar, GDAL or DJI side file), not imagery."""
    suffix = path.suffix.lower()
    return suffix in SIDECAR_SUFFIXES or suffix in SIDE_FILE_SUFFIXES


def sha256_of(source: str) -> str:
    """sha256 of a local file or any fsspec-readable URL, streamed in 1 MiB chunks."""
    h = hashlib.sha256()
    with fsspec.open(source, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _skip(source: str, sha: str | None, kind: str, reason: Reason, detail: str) -> Ingested:
    return Ingested(InputRecord(source, sha, kind, "skipped", reason.value, detail))


def _footprint_json(geom: BaseGeometry, crs: Any) -> dict[str, Any]:
    out: dict[str, Any] = round_coords(mapping(to_wgs84(geom, crs)))
    return out


def _inspect_raster(source: str, sha: str, crs: Any, quality: QualityConfig) -> Ingested:
    try:
        with rasterio.Env(CPL_LOG=os.devnull), warnings.catch_warnings(), \
                rasterio.open(source) as ds:
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            if ds.crs is None:
                return _skip(source, sha, "orthophoto", Reason.NO_CRS,
                             f"{source}: GeoTIFF has no CRS; assign its projected CRS "
                             "(e.g. gdal_edit.py -a_srs EPSG:4549)")
            if ds.transform.is_identity and not ds.gcps[0]:
                return _skip(source, sha, "orthophoto", Reason.NO_TRANSFORM,
                             f"{source}: GeoTIFF has no geotransform (pixel grid unplaced)")
            # a truncated TIFF opens fine and fails on read
            short = _blocks_past_end(ds, source)
            if short:
                return _skip(source, sha, "orthophoto", Reason.CORRUPT_RASTER,
                             f"{source}: raster is truncated ({short})")
            if ds.count < 3 or ds.dtypes[0] != "uint8":
                return _skip(source, sha, "orthophoto", Reason.NOT_AN_IMAGE,
                             f"{source}: {ds.count} band(s) of {ds.dtypes[0]}; an orthophoto "
                             "must be 8-bit RGB (e.g. gdal_translate -ot Byte -scale -b 1 -b 2 "
                             "-b 3)")
            # a geographic orthophoto (OpenAerialMap serves EPSG:4326) is measured as it
            # will be processed: warped on the fly into the analysis CRS
            view = ds if ds.crs.is_projected else WarpedVRT(ds, crs=crs)
            gsd_cm = abs(view.transform.a) * 100 * (view.crs.linear_units_factor[1] or 1.0)
            geom = box(*ds.bounds)
            raster_crs = ds.crs
            problem = measure(view, quality).problem(quality)
            if problem:
                return _skip(source, sha, "orthophoto", Reason.UNUSABLE_IMAGERY,
                             f"{source}: imagery {problem}; it is not used, and resolves "
                             "no case")
    except RasterioError as exc:
        return _skip(source, sha, "orthophoto", Reason.CORRUPT_RASTER,
                     f"{source}: raster cannot be read completely ({exc})")
    rec = InputRecord(source, sha, "orthophoto", "ok", gsd_cm=round(gsd_cm, 3),
                      footprint=_footprint_json(geom, raster_crs))
    return Ingested(rec, None, geom)


def _blocks_past_end(ds: rasterio.io.DatasetReader, source: str) -> str | None:
    """Where a GeoTIFF's blocks point past the end of its file; None when all are there.

    Reads the TIFF's block offsets (milliseconds), not the pixels. Other formats, and
    files GDAL does not give offsets for, are read block by block instead.
    """
    size = os.path.getsize(source) if os.path.isfile(source) else None
    if ds.driver != "GTiff" or size is None \
            or ds.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1) is None:
        for _, window in ds.block_windows(1):
            ds.read(window=window)
        return None
    bands = range(1, ds.count + 1) if ds.interleaving == Interleaving.band else (1,)
    factors = ds.overviews(1)
    for ovr in [None, *range(len(factors))]:
        for b in bands:
            bh, bw = ds.block_shapes[b - 1]
            f = 1 if ovr is None else factors[ovr]
            w, h = -(-ds.width // f), -(-ds.height // f)
            for r in range(-(-h // bh)):
                for c in range(-(-w // bw)):
                    off = ds.get_tag_item(f"BLOCK_OFFSET_{c}_{r}", "TIFF", bidx=b, ovr=ovr)
                    n = ds.get_tag_item(f"BLOCK_SIZE_{c}_{r}", "TIFF", bidx=b, ovr=ovr)
                    if off and n and int(off) + int(n) > size:
                        level = "full resolution" if ovr is None else f"overview {ovr + 1}"
                        return (f"block {c},{r} of band {b} at {level} ends at byte "
                                f"{int(off) + int(n)}, the file has {size}")
    return None


def _decode_jpeg(data: bytes) -> np.ndarray:
    """Decode the whole JPEG to HWC RGB, treating libjpeg's warnings (corrupt data) as errors.

    The pixels are returned so the quality gate does not decode the photo a second time.
    """
    if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise OSError("no end-of-image marker (file truncated)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGB"))


def _inspect_photo(source: str, sha: str, crs: Any, placement: Placement,
                   quality: QualityConfig) -> Ingested:
    with fsspec.open(source, "rb") as f:
        data = f.read()
    try:
        rgb = _decode_jpeg(data)
    except (OSError, SyntaxError, ValueError, Warning) as exc:
        return _skip(source, sha, "photo", Reason.CORRUPT_JPEG,
                     f"{source}: JPEG cannot be decoded completely ({exc})")
    is_tello = not is_url(source) and tello_sidecar(source).exists()
    kind = "tello_capture" if is_tello else "dji_photo"
    try:
        frame = read_tello_pose(source, crs) if is_tello else read_dji_pose(source, crs, data,
                                                                             placement)
        fp = frame.footprint()
    except NoPoseError as exc:
        reason = (Reason.NO_POSE_SIDECAR if is_tello else
                  Reason.NO_HEIGHT if isinstance(exc, NoHeightError) else Reason.NO_GPS)
        return _skip(source, sha, kind, reason, str(exc))
    except (InvalidImageryError, ValueError) as exc:
        return _skip(source, sha, kind, Reason.NOT_AN_IMAGE, f"{source}: {exc}")
    problem = measure_photo(rgb, frame.gsd_cm / 100.0, quality).problem(quality)
    if problem:
        return _skip(source, sha, kind, Reason.UNUSABLE_IMAGERY,
                     f"{source}: photo {problem}; it is not used, and resolves no case")
    rec = InputRecord(source, sha, kind, "ok", gsd_cm=frame.gsd_cm,
                      footprint=_footprint_json(fp, crs))
    return Ingested(rec, frame, fp)


def inspect(source: str, crs: Any, config: IngestConfig | None = None) -> Ingested:
    """Validate one input fully; never raises for a bad file, quarantines it with a reason."""
    if not is_url(source) and not Path(source).exists():
        return _skip(source, None, "unknown", Reason.NOT_FOUND, f"{source}: file not found")
    try:
        sha = sha256_of(source)
    except OSError as exc:
        return _skip(source, None, "unknown", Reason.NOT_FOUND, f"{source}: unreadable ({exc})")
    suffix = Path(source.split("?")[0]).suffix.lower()
    with fsspec.open(source, "rb") as f:
        head = f.read(16)
    if suffix in PHOTO_SUFFIXES or head[:3] == b"\xff\xd8\xff":
        if head[:3] != b"\xff\xd8\xff":
            return _skip(source, sha, "unknown", Reason.NOT_AN_IMAGE,
                         f"{source}: named like a JPEG but is not one")
        cfg = config or IngestConfig()
        return _inspect_photo(source, sha, crs, cfg.placement, cfg.quality)
    is_tiff = head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
    if suffix in (".tif", ".tiff") and not is_tiff:
        return _skip(source, sha, "unknown", Reason.NOT_AN_IMAGE,
                     f"{source}: named like a GeoTIFF but is not one")
    if suffix in RASTER_SUFFIXES or is_tiff:
        return _inspect_raster(source, sha, crs, (config or IngestConfig()).quality)
    if suffix in VECTOR_SUFFIXES:
        return _skip(source, sha, "unknown", Reason.NOT_AN_IMAGE,
                     f"{source}: vector data, not imagery (a registry goes in --registry)")
    return _skip(source, sha, "unknown", Reason.NOT_AN_IMAGE,
                 f"{source}: not an orthophoto (GeoTIFF) or a drone photo (JPEG)")


def ingest(inputs: Iterable[str | Path], crs: Any, config: IngestConfig | None = None,
           progress: Any = None, strict: bool = True) -> IngestReport:
    """Discover, hash and validate every input of a survey.

    Args:
        inputs: files, folders and URLs.
        crs: the analysis CRS photos are placed in (the registry's).
        config: the skip policy.
        progress: optional callable (done, total).
        strict: enforce the skip policy (``False`` reports every input, as ``check`` does).

    Raises:
        SurveyError: no inputs, no valid input, or more skipped than ``max_skip_ratio`` allows.

    """
    cfg = config or IngestConfig()
    sources = discover(list(inputs))
    if not sources:
        raise SurveyError("empty survey: no imagery files found in the given inputs")
    report = IngestReport()
    for n, src in enumerate(sources, start=1):
        report.items.append(inspect(src, crs, cfg))
        if progress is not None:
            progress(n, len(sources))
    if strict:
        check_skip_policy(report, cfg)
    return report


def check_skip_policy(report: IngestReport, config: IngestConfig) -> None:
    """Refuse a survey with no usable input, or more unusable ones than the policy allows.

    Raises:
        SurveyError: naming every unusable input and its problem.

    """
    n_all, n_skip = len(report.items), len(report.skipped)
    if report.ok and n_skip / max(1, n_all) <= config.max_skip_ratio:
        return
    lines = "\n".join(f"  - {i.record.detail}" for i in report.skipped)
    raise SurveyError(f"{n_skip} of {n_all} inputs are unusable (allowed: "
                      f"{config.max_skip_ratio:.0%}):\n{lines}")
