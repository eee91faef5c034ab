"""The real scenes with no structures of ``benchmarks real``, rebuilt from public repositories.

``data/negatives`` (git-ignored) holds ten scenes, one folder each with GeoTIFFs and a
``SOURCE.json`` (repository, commit, path, licence, GSD, crop, georeferencing); docs/real-data.md
lists them. They are evaluation only, never trained on. Rebuild them from git clones of the
three repositories (any clone with history works)::

    git clone --mirror https://github.com/weecology/DeepForest.git DeepForest.git
    git clone --mirror https://github.com/Restor-Foundation/tcd.git tcd.git
    git clone --mirror https://github.com/OpenDroneMap/ODM.git ODM.git
    .venv/bin/python -m benchmarks.negatives DeepForest.git tcd.git ODM.git data/negatives

Plain images (NEON crops shipped as JPEG/PNG, ODM drone photos) are written as GeoTIFFs at
their GSD with a nominal position (said in each SOURCE.json); OpenAerialMap tiles keep their
georeferencing. The three cropped scenes' windows were chosen by eye on 2026-12-03 to hold no
structure (roads and paths allowed).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rasterio
from PIL import Image
from pyproj import Transformer
from rasterio.transform import from_origin
from rasterio.windows import Window

#: DeepForest main (2026-06-29), "2018 SJER data" (2018-09-28), "changing file structure"
#: (2018-10-08); the tcd commit that added the Valencia tile; the ODM test photos' commit.
DF_HEAD = "1bad4419b3e6f7b4981a367e85acc2dda29cfc7b"
DF_2018 = "7324eb8538e69ff5fa0d119a563e30325f923789"
DF_TEAK = "b6eb2a71dec17f6e25fc8a5b745d124f83527a4d"
TCD_C = "a3627451770adfc592fdeeff81f6d5ae7f321f44"
ODM_C = "ec147b2c7e80e8b39d60b7e687f781de8f06eaa9"
NEON_LIC = "NEON AOP imagery, CC0 1.0 (via weecology/DeepForest, code MIT)"
OAM_LIC = "OpenAerialMap imagery, CC-BY 4.0 (attribute: OpenAerialMap contributors)"


def blob(repo: str, commit: str, path: str) -> bytes:
    """The file's bytes; b"" where the mirror lacks the blob (files of 4 MiB or more)."""
    r = subprocess.run(["git", "-C", repo, "show", f"{commit}:{path}"], capture_output=True)
    return r.stdout if r.returncode == 0 else b""


def tifs(repo: str, commit: str, folder: str) -> list[str]:
    names = subprocess.run(["git", "-C", repo, "ls-tree", "--name-only", commit, folder + "/"],
                           check=True, capture_output=True, text=True).stdout.split()
    return [n for n in names if n.endswith(".tif")]


def save_source(folder: Path, meta: dict[str, Any]) -> None:
    (folder / "SOURCE.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


def write_plain_as_geotiff(rgb: np.ndarray, dst: Path, epsg: int, ulx: float, uly: float,
                           gsd_m: float) -> None:
    h, w = rgb.shape[:2]
    with rasterio.open(dst, "w", driver="GTiff", width=w, height=h, count=3, dtype="uint8",
                       crs=f"EPSG:{epsg}", transform=from_origin(ulx, uly, gsd_m, gsd_m),
                       compress="deflate", predictor=2, tiled=True) as ds:
        ds.write(rgb.transpose(2, 0, 1))


def crop_geotiff(data: bytes, window: Window, dst: Path) -> None:
    with rasterio.MemoryFile(data) as mf, mf.open() as ds:
        prof = ds.profile.copy()
        prof.update(width=window.width, height=window.height,
                    transform=ds.window_transform(window), compress="deflate", predictor=2,
                    tiled=True, blockxsize=256, blockysize=256, photometric="RGB")
        a = ds.read(window=window)
    with rasterio.open(dst, "w", **prof) as out:
        out.write(a)


def _dms(v: Any) -> float:
    return float(v[0]) + float(v[1]) / 60 + float(v[2]) / 3600


def _decode(data: bytes, what: str) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"{what}: not an image (is the clone complete?)")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def neon_tiles(df: str, out: Path) -> None:
    """NEON plot tiles (GeoTIFF, UTM, 10 cm), copied unchanged."""
    for name, parts, desc in [
        ("neon-harv-forest", [(DF_2018, "data/HARV", "")], "Harvard Forest (MA) plot tiles"),
        ("neon-osbs-sandhill-lakes", [(DF_2018, "data/OSBS", "")],
         "Ordway-Swisher (FL) plot tiles"),
        ("neon-teak-conifer", [(DF_TEAK, "data/TEAK", "")], "Lower Teakettle (CA) plot tiles"),
        ("neon-sjer-oak-savanna", [(DF_2018, "data/SJER", "2018"),
                                   (DF_2018, "data/SJER/2017", "2017"),
                                   (DF_HEAD, "src/deepforest/data", "")],
         "San Joaquin (CA) plot tiles"),
    ]:
        folder = out / name
        files, skipped = [], []
        for commit, src, sub in parts:
            for p in tifs(df, commit, src):
                if src == "src/deepforest/data" and "SJER" not in p:
                    continue
                data = blob(df, commit, p)
                if not data:          # the 1 km tiles (>= 4 MiB) are absent from the mirror
                    skipped.append(p)
                    continue
                dst = folder / sub / Path(p).name
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_bytes(data)
                files.append({"file": Path(p).name, "dir": sub, "path": p, "commit": commit})
        save_source(folder, {"name": f"NEON AOP RGB 10 cm, {desc} (DeepForest sample data)",
                             "repository": "github.com/weecology/DeepForest",
                             "commit": sorted({c for c, _, _ in parts}),
                             "path": [s for _, s, _ in parts], "licence": NEON_LIC, "gsd_cm": 10,
                             "crop": None, "georeferenced": "as in the source (UTM)",
                             "not_included": skipped, "files": files})


def neon_crops(df: str, out: Path) -> None:
    """NEON crops shipped as plain images (JPEG/PNG), written as GeoTIFF."""
    for name, path, epsg, ulx, uly, desc in [
        ("neon-blan-pasture", "src/deepforest/data/2019_BLAN_3_751000_4330000_image_crop.jpg",
         32617, 751000.0, 4331000.0, "Blandy Experimental Farm (VA) pasture"),
        ("neon-yell-forest-road", "src/deepforest/data/2019_YELL_2_541000_4977000_image_crop.png",
         32612, 541000.0, 4978000.0, "Yellowstone (WY) forest with a road"),
    ]:
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        rgb = _decode(blob(df, DF_HEAD, path), path)
        dst = folder / (Path(path).stem + ".tif")
        write_plain_as_geotiff(np.ascontiguousarray(rgb), dst, epsg, ulx, uly, 0.10)
        save_source(folder, {"name": f"NEON AOP RGB 10 cm, {desc} (DeepForest sample crop)",
                             "repository": "github.com/weecology/DeepForest", "commit": DF_HEAD,
                             "path": path, "licence": NEON_LIC, "gsd_cm": 10, "crop": None,
                             "georeferenced": f"written as GeoTIFF EPSG:{epsg} at 10 cm; "
                             "the crop's "
                             f"place inside NEON tile {Path(path).stem.split('_image')[0]} is not "
                             f"published, so its upper-left is put at the tile's NW corner "
                             f"({ulx:.0f}, {uly:.0f}): nominal position, exact GSD",
                             "files": [{"file": dst.name,
                                        "source_pixels": list(rgb.shape[1::-1])}]})


def oam_tiles(df: str, tcd: str, out: Path) -> None:
    """OpenAerialMap tiles (GeoTIFF, EPSG:3395), whole or a window."""
    oam = [
        ("oam-dry-pasture-brazil", df, DF_HEAD, "github.com/weecology/DeepForest",
         "src/deepforest/data/5dded5bc0140b80006d2e565_23.tif", None,
         "dry pasture, Goiás/Mato Grosso, Brazil (15.63 S, 51.59 W)", 9.62),
        ("oam-pasig-river-water", df, DF_HEAD, "github.com/weecology/DeepForest",
         "src/deepforest/data/5b90f92da0d7280005fab355_4310.tif", (630, 660, 570, 606),
         "Pasig River water, Manila (14.60 N, 120.98 E)", 9.69),
        ("restor-orchard-valencia", tcd, TCD_C, "github.com/Restor-Foundation/tcd",
         "data/5c15321f63d9810007f8b06f_10_00000.tif", (258, 690, 1140, 825),
         "orchard, Valencia, Spain (39.17 N, 0.41 W)", 7.75),
    ]
    for name, repo, commit, repo_url, path, win, desc, gsd_ground in oam:
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        data = blob(repo, commit, path)
        dst = folder / Path(path).name
        if win is None:
            dst.write_bytes(data)
            crop = None
        else:
            col, row, w, h = win
            dst = folder / (Path(path).stem + f"_crop_c{col}_r{row}_{w}x{h}.tif")
            crop_geotiff(data, Window(col, row, w, h), dst)
            crop = {"col_off": col, "row_off": row, "width": w, "height": h,
                    "note": "pixel window of the source GeoTIFF, georeferencing kept (EPSG:3395); "
                            "chosen by eye to hold no structure"}
        save_source(folder, {"name": f"OpenAerialMap tile, {desc}", "repository": repo_url,
                             "commit": commit, "path": path, "licence": OAM_LIC,
                             "gsd_cm": gsd_ground, "crop": crop,
                             "georeferenced": "source EPSG:3395 (10 cm Mercator units); skypatrol "
                                              "warps it to its UTM zone (ground GSD as gsd_cm)",
                             "files": [{"file": dst.name}]})


def odm_crops(odm: str, out: Path) -> None:
    """Building-free row bands of OpenDroneMap's test photos (DJI FC350, Toledo OH)."""
    ODM_CROPS = {  # photo: (first row, end row), full width 2400 px
        "DJI_0066": (0, 300), "DJI_0067": (0, 1000), "DJI_0068": (0, 1200), "DJI_0069": (640, 1800),
        "DJI_0070": (1000, 1800), "DJI_0076": (0, 1160), "DJI_0077": (0, 1400),
        "DJI_0078": (300, 1800),
        "DJI_0085": (0, 788), "DJI_0086": (0, 1280), "DJI_0087": (480, 1800), "DJI_0095": (0, 1240),
        "DJI_0096": (500, 1800), "DJI_0102": (0, 1200), "DJI_0103": (440, 1800),
        "DJI_0104": (840, 1800)}
    GSD = 0.034
    folder = out / "odm-toledo-field-forest"
    folder.mkdir(parents=True, exist_ok=True)
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32617", always_xy=True)
    files = []
    for photo, (r0, r1) in ODM_CROPS.items():
        path = f"tests/test_data/images/{photo}.JPG"
        data = blob(odm, ODM_C, path)
        gps = Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)
        lat = _dms(gps[2]) * (-1 if gps[1] == "S" else 1)
        lon = _dms(gps[4]) * (-1 if gps[3] == "W" else 1)
        cx, cy = to_utm.transform(lon, lat)
        rgb = _decode(data, path)
        h, w = rgb.shape[:2]
        crop = np.ascontiguousarray(rgb[r0:r1])
        ulx, uly = cx - w / 2 * GSD, cy + h / 2 * GSD - r0 * GSD
        dst = folder / f"{photo}_rows{r0}-{r1}.tif"
        write_plain_as_geotiff(crop, dst, 32617, ulx, uly, GSD)
        files.append({"file": dst.name, "path": path, "crop": {"col_off": 0, "row_off": r0,
                      "width": w, "height": r1 - r0},
                      "photo_centre_lonlat": [round(lon, 6), round(lat, 6)]})
    save_source(folder, {"name": "OpenDroneMap test photos (DJI Inspire 1 FC350), field and forest "
                                 "near Toledo, Ohio: building-free crops",
                         "repository": "github.com/OpenDroneMap/ODM", "commit": ODM_C,
                         "path": "tests/test_data/images",
                         "licence": "GPL-3.0 (ODM repository test data); evaluation only, never "
                                    "trained on or redistributed",
                         "gsd_cm": 3.4, "crop": "full-width row bands per photo, see files",
                         "georeferenced": "written as GeoTIFF EPSG:32617 (UTM 17N) at an assumed "
                         "3.4 cm GSD, north-up, photo centre at its EXIF GPS position: nominal, "
                         "not orthorectified (single frames, overlapping ground)",
                         "files": files})


def main(argv: list[str]) -> None:
    """``DEEPFOREST_GIT TCD_GIT ODM_GIT OUT``: build every scene into OUT."""
    if len(argv) != 4:
        raise SystemExit("usage: python -m benchmarks.negatives DEEPFOREST_GIT TCD_GIT ODM_GIT OUT")
    df, tcd, odm, out = argv[0], argv[1], argv[2], Path(argv[3])
    out.mkdir(parents=True, exist_ok=True)
    neon_tiles(df, out)
    neon_crops(df, out)
    oam_tiles(df, tcd, out)
    odm_crops(odm, out)


if __name__ == "__main__":
    main(sys.argv[1:])
