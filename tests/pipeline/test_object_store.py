"""A survey whose orthophoto sits in an S3-compatible object store (moto's server on loopback).

The same tasks as from the local file; the orthophoto is read in place, window by window
(GDAL's /vsis3/ range requests), never copied to the work folder.
"""

import socket
import subprocess
import sys
import time

import pytest

from pipeline import survey as sv

boto3 = pytest.importorskip("boto3", reason="boto3 (test extra) not installed")


@pytest.fixture
def object_store(monkeypatch, tmp_path):
    """An S3-compatible server on a free loopback port, and the env vars that reach it."""
    pytest.importorskip("moto.server", reason="moto[server] (test extra) not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "s3.log", "w")  # noqa: SIM115 - closed after the server
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                               str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for k, v in {"AWS_ACCESS_KEY_ID": "skypatrol", "AWS_SECRET_ACCESS_KEY": "skypatrol",
                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": url,
                 "AWS_S3_ENDPOINT": f"127.0.0.1:{port}", "AWS_HTTPS": "NO",
                 "AWS_VIRTUAL_HOSTING": "FALSE"}.items():
        monkeypatch.setenv(k, v)
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        yield boto3.client("s3", endpoint_url=url), tmp_path / "s3.log"
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def _tasks(summary_out):
    import json

    fc = json.loads((summary_out / "tasks.geojson").read_text())["features"]
    return sorted((f["properties"]["task_id"], f["properties"]["category"],
                   round(f["properties"]["area_m2"], 2)) for f in fc)


@pytest.mark.slow
def test_a_survey_reads_its_orthophoto_from_an_object_store(object_store, tiny_world,
                                                             tmp_path):
    s3, log = object_store
    ortho = tiny_world / "epoch1" / "ortho.tif"
    s3.create_bucket(Bucket="surveys")
    s3.upload_file(str(ortho), "surveys", "2026-04/ortho.tif")
    runs = {}
    for name, source in (("local", str(ortho)), ("s3", "s3://surveys/2026-04/ortho.tif")):
        spec = sv.SurveySpec((source,), tiny_world / "registry.gpkg", tmp_path / name,
                             cases=tmp_path / f"{name}.gpkg", survey_id="S1")
        summary = sv.run_survey(spec)
        runs[name] = (summary, _tasks(tmp_path / name))
    assert runs["s3"][1] == runs["local"][1] and runs["s3"][1], "the same tasks"
    s3_input = runs["s3"][0]["inputs"][0]
    assert s3_input["status"] == "ok" and s3_input["sha256"] == runs["local"][0]["inputs"][0][
        "sha256"]
    size = ortho.stat().st_size
    copies = [p for p in (tmp_path / "s3").rglob("*") if p.is_file()
              and p.stat().st_size >= size / 2]
    assert copies == [], "the orthophoto is read in place, not copied"
    ranged = [ln for ln in log.read_text().splitlines() if "GET /surveys/2026-04/ortho.tif" in ln]
    assert ranged and all('" 206 ' in ln for ln in ranged), "range requests only"
