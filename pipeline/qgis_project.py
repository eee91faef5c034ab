"""``survey.qgz``: a QGIS project that opens a survey's layers, styled.

The orthophotos, the tasks (by category), the raw detections (by class), the resolved cases,
and the registry's parcels and permits. Paths to the survey's own files are relative (the
folder can move); the imagery and the registry are referred to where they lie. The project is
QGIS 3 XML written from a template (``templates/survey.qgs.j2``) and zipped as QGIS does; it
is checked by reading it back with PyQGIS (``tests/pipeline/test_gis_outputs.py``).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape
from pyproj import CRS

from pipeline.i18n import t
from pipeline.render import environment

#: RGBA colours (QGIS "r,g,b,a") per category and per detected class.
CATEGORY_STYLE = {"illegal_construction": ("214,39,40,90", "214,39,40,255"),
                  "green_encroachment": ("44,160,44,90", "44,160,44,255"),
                  "illegal_billboard": ("148,103,189,110", "148,103,189,255")}
CLASS_STYLE = {"building": ("0,0,0,0", "255,127,14,255"), "shed": ("0,0,0,0", "31,119,180,255"),
               "billboard": ("0,0,0,0", "148,103,189,255"),
               "cleared_ground": ("0,0,0,0", "140,86,75,255")}


def crs_xml(crs: Any) -> Markup:
    """A ``<spatialrefsys>`` element QGIS reads (WKT and authority id)."""
    c = CRS.from_user_input(crs)
    auth = c.to_authority()
    authid = f"{auth[0]}:{auth[1]}" if auth else ""
    return Markup(
        "<spatialrefsys nativeFormat=\"Wkt\">"
        f"<wkt>{escape(c.to_wkt())}</wkt>"
        f"<srid>{escape(auth[1] if auth else '')}</srid><authid>{escape(authid)}</authid>"
        f"<description>{escape(c.name)}</description>"
        f"<geographicflag>{'true' if c.is_geographic else 'false'}</geographicflag>"
        "</spatialrefsys>")


def _symbol(name: int, fill: str, line: str, geometry: str) -> Markup:
    if geometry == "Point":
        layer = ("<layer class=\"SimpleMarker\" enabled=\"1\" locked=\"0\" pass=\"0\">"
                 "<Option type=\"Map\">"
                 f"<Option name=\"color\" value=\"{fill}\" type=\"QString\"/>"
                 f"<Option name=\"outline_color\" value=\"{line}\" type=\"QString\"/>"
                 "<Option name=\"size\" value=\"3\" type=\"QString\"/>"
                 "<Option name=\"name\" value=\"circle\" type=\"QString\"/></Option></layer>")
        kind = "marker"
    else:
        layer = ("<layer class=\"SimpleFill\" enabled=\"1\" locked=\"0\" pass=\"0\">"
                 "<Option type=\"Map\">"
                 f"<Option name=\"color\" value=\"{fill}\" type=\"QString\"/>"
                 f"<Option name=\"outline_color\" value=\"{line}\" type=\"QString\"/>"
                 "<Option name=\"outline_style\" value=\"solid\" type=\"QString\"/>"
                 "<Option name=\"outline_width\" value=\"0.6\" type=\"QString\"/>"
                 "<Option name=\"outline_width_unit\" value=\"MM\" type=\"QString\"/>"
                 "<Option name=\"style\" value=\"solid\" type=\"QString\"/></Option></layer>")
        kind = "fill"
    return Markup(f"<symbol type=\"{kind}\" name=\"{name}\" alpha=\"1\" clip_to_extent=\"1\" "
                  f"force_rhr=\"0\">{layer}</symbol>")


def project_layers(out: Path, registry: Path | str, rasters: Sequence[str], crs: Any,
                   lang: str) -> list[dict[str, Any]]:
    """The project's layers, bottom first."""
    layers: list[dict[str, Any]] = []
    for i, r in enumerate(rasters):
        if Path(r).exists() and str(r).lower().endswith((".tif", ".tiff", ".vrt")):
            layers.append({"id": f"ortho_{i}", "name": f"{t('orthophoto', lang)} {Path(r).stem}",
                           "type": "raster", "provider": "gdal",
                           "source": str(Path(r).resolve()), "crs_xml": crs_xml(crs)})
    reg = str(Path(registry).resolve())
    layers.append({"id": "parcels", "name": t("parcels", lang), "type": "vector",
                   "provider": "ogr", "geometry": "Polygon", "crs_xml": crs_xml(crs),
                   "source": f"{reg}|layername=parcels", "fill": "0,0,0,0",
                   "line": "120,120,120,255", "categories": None})
    layers.append({"id": "permits", "name": t("permits", lang), "type": "vector",
                   "provider": "ogr", "geometry": "Polygon", "crs_xml": crs_xml(crs),
                   "source": f"{reg}|layername=permitted_structures", "fill": "31,119,180,40",
                   "line": "31,119,180,255", "categories": None})
    if (out / "detections.gpkg").exists():
        layers.append({"id": "detections", "name": t("detections", lang), "type": "vector",
                       "provider": "ogr", "geometry": "Polygon", "crs_xml": crs_xml(crs),
                       "source": "./detections.gpkg|layername=detections", "attr": "class",
                       "categories": [{"value": k, "label": t(k, lang), "fill": f, "line": ln}
                                      for k, (f, ln) in CLASS_STYLE.items()]})
    wgs = crs_xml("EPSG:4326")
    layers.append({"id": "resolved", "name": t("resolved_layer", lang), "type": "vector",
                   "provider": "ogr", "geometry": "Polygon", "crs_xml": wgs,
                   "source": "./resolved.geojson", "fill": "255,255,255,60",
                   "line": "44,160,44,255", "categories": None})
    layers.append({"id": "tasks", "name": t("tasks", lang), "type": "vector",
                   "provider": "ogr", "geometry": "Polygon", "crs_xml": wgs,
                   "source": "./tasks.geojson", "attr": "category",
                   "categories": [{"value": k, "label": t(k, lang), "fill": f, "line": ln}
                                  for k, (f, ln) in CATEGORY_STYLE.items()]})
    return layers


def write_qgis_project(out: Path, summary: dict[str, Any], registry: Path | str,
                       rasters: Sequence[str], crs: Any = None, lang: str = "en") -> Path:
    """Write ``survey.qgz`` into ``out``; returns its path."""
    if crs is None:
        import pyogrio

        crs = pyogrio.read_info(registry, layer="parcels")["crs"]
    layers = project_layers(out, registry, rasters, crs, lang)
    xml = environment().get_template("survey.qgs.j2").render(
        title=f"skypatrol {summary['survey_id']}", crs_xml=crs_xml(crs),
        layers=list(reversed(layers)), symbol=_symbol)
    path = out / "survey.qgz"
    tmp = path.with_suffix(".qgz.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("survey.qgs", xml)
    tmp.replace(path)
    return path
