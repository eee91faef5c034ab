"""GIS outputs of a survey: styled KML/KMZ in folders, and a QGIS project that QGIS opens."""

import json
import shutil
import subprocess
import xml.etree.ElementTree as etree  # our own file
import zipfile

import pytest

from pipeline.i18n import t

KML = "{http://www.opengis.net/kml/2.2}"
#: Reads a project with PyQGIS (Debian's python3-qgis) and prints what QGIS made of it.
READ_BACK = r"""
import json, sys
from qgis.core import QgsApplication, QgsProject
app = QgsApplication([], False)
app.initQgis()
project = QgsProject.instance()
ok = project.read(sys.argv[1])
layers = {}
for layer in project.mapLayers().values():
    info = {"valid": layer.isValid(), "name": layer.name()}
    renderer = layer.renderer() if hasattr(layer, "renderer") else None
    if renderer is not None and hasattr(renderer, "type"):
        info["renderer"] = renderer.type()
    if hasattr(renderer, "categories"):
        info["categories"] = [c.value() for c in renderer.categories()]
    if hasattr(layer, "featureCount"):
        info["features"] = layer.featureCount()
    layers[layer.id()] = info
print(json.dumps({"ok": ok, "crs": project.crs().authid(), "layers": layers}))
"""


def qgis_python():
    """Debian's Python with PyQGIS, or None."""
    exe = shutil.which("python3", path="/usr/bin")
    if exe is None:
        return None
    probe = subprocess.run([exe, "-c", "import qgis.core"], capture_output=True)
    return exe if probe.returncode == 0 else None


def test_kml_has_folders_styles_outlines_and_evidence(two_surveys):
    root, _, _ = two_surveys
    tasks = json.loads((root / "s1" / "tasks.geojson").read_text())["features"]
    if not tasks:
        pytest.skip("no tasks")
    doc = etree.parse(str(root / "s1" / "tasks.kml")).getroot()
    squads = {f["properties"]["squad"] for f in tasks}
    top = doc.findall(f"{KML}Document/{KML}Folder")
    assert len(top) == len(squads), "one folder per squad"
    for folder in top:
        cats = folder.findall(f"{KML}Folder")
        assert cats and all(c.find(f"{KML}name").text for c in cats), "then per category"
    marks = doc.iter(f"{KML}Placemark")
    points = polygons = 0
    for m in marks:
        assert m.find(f"{KML}styleUrl") is not None, "every site is styled"
        points += m.find(f"{KML}Point") is not None
        polygons += m.find(f"{KML}Polygon") is not None
        assert "<img" in m.find(f"{KML}description").text
    assert points == len(tasks) and polygons >= len(tasks)
    colors = {e.text for e in doc.iter(f"{KML}PolyStyle")
              for e in e.iter(f"{KML}color")}
    assert len(colors) == len({f["properties"]["category"] for f in tasks}), \
        "one colour per category"
    with zipfile.ZipFile(root / "s1" / "tasks.kmz") as z:
        names = z.namelist()
    assert "doc.kml" in names and sum(n.endswith(".jpg") for n in names) == len(tasks)


def test_the_qgis_project_opens_in_qgis(two_surveys, tmp_path):
    exe = qgis_python()
    if exe is None:
        pytest.skip("PyQGIS (Debian python3-qgis) is not installed; make test installs it")
    root, _, _ = two_surveys
    moved = tmp_path / "moved"  # the survey folder can move: its own layers are relative
    shutil.copytree(root / "s2", moved)
    proc = subprocess.run([exe, "-c", READ_BACK, str(moved / "survey.qgz")],
                          capture_output=True, text=True, timeout=300,
                          env={"QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path),
                               "XDG_RUNTIME_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["ok"] and info["crs"] == "EPSG:4549"
    by_name = {v["name"]: v for v in info["layers"].values()}
    assert all(v["valid"] for v in by_name.values()), by_name
    names = {k: t(k, "zh") for k in ("tasks", "detections", "resolved_layer", "parcels",
                                     "permits")}  # the second survey is in Chinese
    assert set(names.values()) <= set(by_name)
    assert any(n.startswith(t("orthophoto", "zh")) for n in by_name)
    tasks = by_name[names["tasks"]]
    assert tasks["renderer"] == "categorizedSymbol"
    assert set(tasks["categories"]) == {
        "illegal_construction", "green_encroachment", "illegal_billboard"}
    n_tasks = len(json.loads((moved / "tasks.geojson").read_text())["features"])
    assert tasks["features"] == n_tasks
    assert by_name[names["parcels"]]["features"] > 0
