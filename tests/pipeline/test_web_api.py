"""The JSON API and tiles of ``skypatrol web`` over a real register and survey raster:
findings, the review queue, reviews, clear 4xx answers that change nothing, the token."""

import hashlib
import io
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import mercantile
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pipeline.web import WebConfig, access_token, create_app, free_port, is_loopback
from tests.conftest import copy_register_file


@pytest.fixture
def web(surveyed_world, tmp_path):
    cases = copy_register_file(surveyed_world["cases"], tmp_path / "cases.gpkg")
    app = create_app(WebConfig(cases=cases, registry=surveyed_world["registry"]))
    return TestClient(app), cases


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_findings_queue_and_detail(web):
    client, _ = web
    surveys = client.get("/api/surveys").json()
    assert [s["survey_id"] for s in surveys] == ["S1"]
    fc = client.get("/api/findings").json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) >= 5
    props = [f["properties"] for f in fc["features"]]
    lon, lat = fc["features"][0]["geometry"]["coordinates"][0][0]
    assert 119 < lon < 121 and 31 < lat < 32  # WGS84 for the browser's map
    cat = props[0]["category"]
    only = client.get("/api/findings", params={"category": cat}).json()["features"]
    assert {f["properties"]["category"] for f in only} == {cat}
    assert len(client.get("/api/findings", params={"min_score": 1.01}).json()["features"]) == 0
    # the queue: unreviewed findings, the one closest to its threshold first
    queue = client.get("/api/queue").json()
    margins = [abs(q["margin"]) for q in queue]
    assert margins == sorted(margins) and len(queue) == len(props)
    d = client.get(f"/api/findings/{queue[0]['task_id']}").json()
    assert d["survey_id"] == "S1" and d["history"][0]["seen"]
    assert d["score"] == pytest.approx(queue[0]["score"]) and 0 < d["threshold"] < 1
    assert isinstance(d["checks"], str) and d["checks"]  # its trail, worded (or the model's)
    chip = client.get("/" + d["history"][0]["chip"])
    assert chip.status_code == 200 and chip.headers["content-type"] == "image/jpeg"
    parcels = client.get("/api/parcels").json()
    assert {f["properties"]["layer"] for f in parcels["features"]} >= {"parcel", "permit"}


def test_tiles_come_from_the_survey_raster(web):
    client, _ = web
    w, s, e, n = client.get("/api/surveys").json()[0]["bounds"]
    t = mercantile.tile((w + e) / 2, (s + n) / 2, 20)
    r = client.get(f"/tiles/S1/20/{t.x}/{t.y}")
    assert r.status_code == 200 and r.headers["content-type"] in ("image/jpeg", "image/png")
    img = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))
    assert img.shape == (256, 256, 4) and img[..., 3].mean() > 250 and img[..., :3].std() > 5
    far = mercantile.tile(0.0, 0.0, 20)
    blank = np.asarray(Image.open(io.BytesIO(
        client.get(f"/tiles/S1/20/{far.x}/{far.y}").content)).convert("RGBA"))
    assert blank[..., 3].max() == 0  # transparent outside the imagery
    assert client.get("/tiles/S9/20/1/1").status_code == 404
    assert client.get("/tiles/S1/3/9/1").status_code == 404
    # at the imagery's edge: transparent where there is none
    edge = mercantile.tile(w, (s + n) / 2, 20)
    rim = client.get(f"/tiles/S1/20/{edge.x}/{edge.y}")
    assert rim.headers["content-type"] == "image/png"
    alpha = np.asarray(Image.open(io.BytesIO(rim.content)).convert("RGBA"))[..., 3]
    assert alpha.min() == 0 and alpha.max() == 255


def test_a_review_is_stored_and_shown(web):
    client, _ = web
    tid = client.get("/api/queue").json()[0]["task_id"]
    r = client.post("/api/reviews", json={"action": "reject", "task_id": tid, "survey_id": "S1",
                                          "reason": "not_a_structure", "reviewer": "ana"})
    assert r.status_code == 201, r.text
    assert tid not in {q["task_id"] for q in client.get("/api/queue").json()}
    d = client.get(f"/api/findings/{tid}").json()
    assert d["review"] == "rejected" and d["reviews"][0]["reviewer"] == "ana"
    rejected = client.get("/api/findings", params={"review": "rejected"}).json()["features"]
    assert [f["id"] for f in rejected] == [tid]


def test_an_analyst_marks_the_ground_in_view_as_checked(web):
    client, cases = web
    w, s, e, n = client.get("/api/surveys").json()[0]["bounds"]
    view = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    r = client.post("/api/reviews", json={"action": "area", "survey_id": "S1",
                                          "reviewer": "ana", "geometry": view})
    assert r.status_code == 201 and r.json()["task_id"].startswith("AREA-")
    from pipeline.cases import read_register, register_crs

    reg = read_register(cases, register_crs(cases))
    assert list(reg["reviews"].action) == ["area"]
    assert reg["cases"].review.isna().all()  # no case's verdict
    city = {"type": "Polygon", "coordinates": [[[w - 1, s - 1], [e + 1, s - 1], [e + 1, n + 1],
                                                [w - 1, n + 1], [w - 1, s - 1]]]}
    too_big = client.post("/api/reviews", json={"action": "area", "survey_id": "S1",
                                                "reviewer": "ana", "geometry": city})
    assert too_big.status_code == 422 and "zoom in" in too_big.json()["detail"]


def test_bad_requests_get_clear_4xx_answers_and_change_nothing(web):
    client, cases = web
    tid = client.get("/api/queue").json()[0]["task_id"]
    digest = _digest(cases)
    ring = [[120.2780, 31.5470], [120.2781, 31.5471], [120.2781, 31.5470],
            [120.2780, 31.5471], [120.2780, 31.5470]]
    bad = [
        ({"action": "confirm", "task_id": "SP-NOPE", "survey_id": "S1", "reviewer": "a"}, 404),
        ({"action": "confirm", "task_id": tid, "survey_id": "S9", "reviewer": "a"}, 422),
        ({"action": "explode", "task_id": tid, "survey_id": "S1", "reviewer": "a"}, 422),
        ({"action": "reject", "task_id": tid, "survey_id": "S1", "reviewer": "a"}, 422),
        ({"action": "correct", "task_id": tid, "survey_id": "S1", "reviewer": "a",
          "geometry": {"type": "Polygon", "coordinates": [ring]}}, 422),  # a bow tie
        ({"action": "correct", "task_id": tid, "survey_id": "S1", "reviewer": "a",
          "geometry": {"type": "Polygon", "coordinates": "nonsense"}}, 422),
        ({"action": "correct", "task_id": tid, "survey_id": "S1", "reviewer": "a",
          "geometry": {"type": "Point", "coordinates": [120.3, 31.5]}}, 422),
        ({"action": "add", "survey_id": "S1", "reviewer": "a", "category": "illegal_construction",
          "object_class": "shed", "geometry": {"type": "Polygon",
                                               "coordinates": [[[1e9, 1], [2, 2], [3, 1]]]}},
         422),
    ]
    for body, code in bad:
        r = client.post("/api/reviews", json=body)
        assert r.status_code == code, (body, r.text)
        assert isinstance(r.json()["detail"], str) and r.json()["detail"]
    assert client.post("/api/reviews", content=b"{not json",
                       headers={"content-type": "application/json"}).status_code == 400
    assert client.post("/api/reviews", json=[1, 2]).status_code == 400
    plain = client.post("/api/reviews", content=b'{"action": "confirm"}',
                        headers={"content-type": "text/plain"})
    assert plain.status_code == 415  # another site's page may send text/plain unasked
    huge = client.post("/api/reviews", content=b"x" * 200_000,
                       headers={"content-type": "application/json"})
    assert huge.status_code == 413
    assert client.get("/api/findings/SP-NOPE").status_code == 404
    assert client.get("/api/findings", params={"survey": "S9"}).status_code == 404
    assert client.get("/static/../cases.gpkg").status_code == 404
    assert client.get("/static/secret.txt").status_code == 404
    assert _digest(cases) == digest


def test_adding_needs_the_registry(surveyed_world, tmp_path):
    cases = copy_register_file(surveyed_world["cases"], tmp_path / "cases.gpkg")
    client = TestClient(create_app(WebConfig(cases=cases)))
    r = client.post("/api/reviews", json={
        "action": "add", "survey_id": "S1", "reviewer": "a", "category": "illegal_construction",
        "object_class": "shed", "geometry": {"type": "Polygon", "coordinates": [[
            [120.2780, 31.5470], [120.27801, 31.5470], [120.27801, 31.54701],
            [120.2780, 31.5470]]]}})
    assert r.status_code == 409 and "--registry" in r.json()["detail"]


def test_the_token_is_required_when_set(surveyed_world):
    client = TestClient(create_app(WebConfig(cases=surveyed_world["cases"], token="s3cret")))
    assert client.get("/api/surveys").status_code == 401
    assert client.get("/").status_code == 401
    assert client.get("/api/surveys", headers={"Authorization": "Bearer wrong"}
                      ).status_code == 401
    assert client.get("/api/surveys", headers={"Authorization": "Bearer s3cret"}
                      ).status_code == 200
    assert client.post("/api/reviews", json={}).status_code == 401
    # the printed link opens the page once and leaves the token in a cookie
    r = client.get("/?token=s3cret", follow_redirects=False)
    assert r.status_code == 303 and "httponly" in r.headers["set-cookie"].lower()
    assert client.get("/api/surveys").status_code == 200


def test_a_loopback_server_answers_only_to_its_own_names(surveyed_world):
    app = create_app(WebConfig(cases=surveyed_world["cases"],
                               allowed_hosts=("127.0.0.1", "localhost")))
    assert TestClient(app, base_url="http://127.0.0.1").get("/api/surveys").status_code == 200
    rebound = TestClient(app, base_url="http://evil.example")
    assert rebound.get("/api/surveys").status_code == 400


def test_off_the_loopback_a_token_is_made_up():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert access_token("127.0.0.1", None) is None
    made = access_token("0.0.0.0", None)
    assert made and len(made) >= 24 and made != access_token("0.0.0.0", None)
    assert access_token("0.0.0.0", "given") == "given"


def test_the_command_serves_until_stopped(surveyed_world):
    port = free_port()
    env = {**os.environ, "SKYPATROL_WEB_TOKEN": "tok-123"}
    proc = subprocess.Popen([sys.executable, "-m", "skypatrol.cli", "web", "--cases",
                             str(surveyed_world["cases"]), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert re.search(rf"http://localhost:{port}/\?token=tok-123", line), line
        url = f"http://127.0.0.1:{port}/api/surveys"
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=2)
                pytest.fail("served without the token")
            except urllib.error.HTTPError as exc:
                assert exc.code == 401
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("the server did not start")
        req = urllib.request.Request(url, headers={"Authorization": "Bearer tok-123"})
        assert urllib.request.urlopen(req, timeout=5).status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert proc.returncode in (0, 130)


def test_a_missing_register_is_a_clear_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "skypatrol.cli", "web", "--cases",
                        str(tmp_path / "none.gpkg")], capture_output=True, text=True)
    assert r.returncode == 2 and "case register not found" in r.stderr
    assert "Traceback" not in r.stderr


def test_each_server_thread_keeps_few_rasters_open(make_geotiff):
    from pipeline import web

    paths = [str(make_geotiff(name=f"f{k}.tif")) for k in range(web.READERS_PER_THREAD + 3)]
    readers = [web._reader(p) for p in paths]
    assert len(web._readers.cache) == web.READERS_PER_THREAD
    assert list(web._readers.cache) == paths[-web.READERS_PER_THREAD:]  # the most recent
    assert readers[0].dataset.closed and not readers[-1].dataset.closed
    assert web._reader(paths[-1]) is readers[-1]  # kept, not opened again
