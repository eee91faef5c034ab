"""``skypatrol web`` in a real headless Chromium: an analyst rejects three false findings,
corrects an outline, adds a missed shed and confirms the rest with the mouse; the next survey's
outputs reflect it. At desktop and phone widths."""

import dataclasses
import json

import geopandas as gpd
import pytest
import shapely

from pipeline import survey as sv
from pipeline.cases import read_register, register_crs
from pipeline.screenshots import chromium_path
from pipeline.web import WebConfig, serving
from tests.conftest import copy_register_file, free_square

pytestmark = pytest.mark.slow
playwright = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
if chromium_path() is None:
    pytest.skip("Debian chromium is not installed (make browser installs it)",
                allow_module_level=True)


@pytest.fixture
def server(surveyed_world, tmp_path):
    """The web application on a free loopback port, stopped after the test."""
    cases = copy_register_file(surveyed_world["cases"], tmp_path / "cases.gpkg")
    with serving(WebConfig(cases=cases, registry=surveyed_world["registry"])) as url:
        yield url, cases


def _open(browser, url, width=1280, height=900):
    page = browser.new_page(viewport={"width": width, "height": height})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400
            else None)
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    return page, errors


def _reviews(page):
    return int(page.evaluate("document.body.dataset.reviews || '0'"))


def _pick(page, task_id):
    page.click(f"#queue li[data-task='{task_id}']")
    page.wait_for_selector(f"#panel[data-task='{task_id}']")


def _after(page, n):
    """Wait for the n-th review to be saved (the page counts them); fail with its message."""
    try:
        page.wait_for_function(f"(document.body.dataset.reviews || '0') === '{n}'",
                               timeout=30_000)
    except playwright.TimeoutError:
        pytest.fail(f"review {n} not saved; the page says: {page.text_content('#msg')!r}")
    assert "error" not in (page.get_attribute("#msg", "class") or "")


def _own_point(cases, task_id):
    """A WGS84 point of a finding that no other finding covers."""
    reg = read_register(cases, register_crs(cases))
    c = reg["cases"].to_crs(4326)
    mine = c[c.task_id == task_id].geometry.iloc[0]
    others = shapely.union_all(list(c[c.task_id != task_id].geometry))
    return mine.difference(others.buffer(2e-6)).buffer(-2e-6).representative_point()


def _screen(page, lonlat):
    """Where a WGS84 point lies on the page (after the map has settled)."""
    page.wait_for_timeout(400)
    return page.evaluate("""(p) => {
        const c = window.skypatrol.map.latLngToContainerPoint([p[1], p[0]]);
        const r = document.getElementById('map').getBoundingClientRect();
        return [c.x + r.left, c.y + r.top]; }""", [lonlat.x, lonlat.y])


def test_an_analyst_reviews_a_survey_and_the_next_outputs_reflect_it(
        server, browser, surveyed_world, tmp_path):
    url, cases = server
    page, errors = _open(browser, url)
    assert page.locator("img.leaflet-tile-loaded").count() > 0  # the orthophoto's tiles
    page.fill("#reviewer", "ana")
    queue = page.eval_on_selector_all("#queue li", "els => els.map(e => e.dataset.task)")
    assert len(queue) >= 5
    n = 0
    # three false findings rejected, the first picked on the map itself
    for k, tid in enumerate(queue[:3]):
        if k == 0:  # clicked where no other finding overlaps it
            x, y = _screen(page, _own_point(cases, tid))
            page.mouse.click(x, y)
            page.wait_for_selector(f"#panel[data-task='{tid}']")
        else:
            _pick(page, tid)
        page.select_option("#reject-reason", "not_a_structure")
        page.click("#b-reject")
        n += 1
        _after(page, n)
    # one outline corrected: a corner dragged outwards with the mouse
    fixed = queue[3]
    _pick(page, fixed)
    page.wait_for_timeout(500)
    page.click("#b-edit")
    page.wait_for_selector(".marker-icon:not(.marker-icon-middle)")
    page.wait_for_timeout(300)
    corner = page.locator(".marker-icon:not(.marker-icon-middle)").first
    box = corner.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 25, cy + 15, steps=8)
    page.mouse.up()
    page.click("#b-save-outline")
    n += 1
    _after(page, n)
    # one missed shed drawn on free ground
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    reg = read_register(cases, register_crs(cases))
    sq = gpd.GeoSeries([free_square(reg, keep_off_m=6.0)],
                       crs=reg["cases"].crs).to_crs(4326).iloc[0]
    corners = page.evaluate("""(pts) => pts.map(p => {
        const c = window.skypatrol.map.latLngToContainerPoint([p[1], p[0]]);
        const r = document.getElementById('map').getBoundingClientRect();
        return [c.x + r.left, c.y + r.top]; })""", list(sq.exterior.coords)[:4])
    page.click("#add")
    page.select_option("#add-class", "illegal_construction|shed")
    for x, y in corners:
        page.mouse.click(x, y)
        page.wait_for_timeout(150)
    page.mouse.click(*corners[0])  # the first corner again ends the outline
    n = 1  # the page counts its own reviews: reloaded, it starts again
    _after(page, n)
    # the rest confirmed, straight from the queue
    while page.locator("#queue li").count():
        _pick(page, page.locator("#queue li").first.get_attribute("data-task"))
        page.click("#b-confirm")
        n += 1
        _after(page, n)
    # and the ground in view is marked as fully checked
    page.click("#mark-area")
    n += 1
    _after(page, n)
    assert errors == []

    reg = read_register(cases, register_crs(cases))
    actions = reg["reviews"].action.value_counts().to_dict()
    assert actions == {"reject": 3, "correct": 1, "add": 1, "confirm": len(queue) - 4,
                       "area": 1}
    assert set(reg["reviews"].reviewer) == {"ana"}
    cs = reg["cases"].set_index("task_id")
    before = read_register(surveyed_world["cases"], register_crs(cases))["cases"] \
        .set_index("task_id")
    assert cs.at[fixed, "area_m2"] > before.at[fixed, "area_m2"]  # dragged outwards
    added = reg["reviews"][reg["reviews"].action == "add"].task_id.iloc[0]
    assert cs.at[added, "area_m2"] == pytest.approx(25, rel=0.15)

    # the next run of the survey: rejected ones gone from the work orders, the added one
    # there, every other site marked verified
    spec = dataclasses.replace(surveyed_world["spec"], out=tmp_path / "again", cases=cases)
    summary = sv.run_survey(spec)
    assert summary["rejected_by_review"] == 3
    tasks = {f["properties"]["task_id"]: f["properties"] for f in json.loads(
        (tmp_path / "again" / "tasks.geojson").read_text())["features"]}
    assert not set(queue[:3]) & set(tasks)
    assert added in tasks
    assert all(p["verified"] for p in tasks.values())
    pages = "".join(p.read_text() for p in (tmp_path / "again" / "squads").glob("*.html"))
    assert added in pages and not any(t in pages for t in queue[:3])
    assert pages.count('class="verified"') == len(tasks)
    page.close()


def test_the_review_map_on_a_phone(server, browser):
    url, _ = server
    page, errors = _open(browser, url, width=390, height=844)
    tid = page.locator("#queue li").first.get_attribute("data-task")
    _pick(page, tid)
    assert page.locator("#b-confirm").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page scrolls sideways on a phone"
    for sel in ("#b-confirm", "#b-reject", "#b-edit"):
        assert page.locator(sel).bounding_box()["height"] >= 36
    assert page.locator("#p-history img").count() >= 1
    assert errors == []
    page.close()


def test_the_review_map_in_chinese_names_its_layers_and_drawing_hints_in_chinese(server,
                                                                                  browser):
    url, _ = server
    page, errors = _open(browser, url + "?lang=zh")
    assert page.get_attribute(".leaflet-control-layers-toggle", "title") == "图层"
    assert page.evaluate("L.PM.activeLang") == "zh"
    assert errors == []
    page.close()
