"""Screenshots of the dashboard and a work order at desktop and phone widths (headless Chromium).

``python -m pipeline.screenshots DEMO_OUT DEST`` (``make screenshots``).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
#: The README's pictures: (page, width label, full page or the first screen only).
SHOTS = [("work-order", "phone", False), ("work-order", "desktop", False),
         ("dashboard-zh", "desktop", True), ("dashboard", "phone", True)]


def chromium_path() -> str | None:
    """Debian's Chromium, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshots(pages: dict[str, Path], dest: Path) -> list[Path]:
    """PNGs of the pages, as ``SHOTS`` lists them (a phone screen is 390 x 1400 px)."""
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise RuntimeError("chromium is not installed (make system-packages installs it)")
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        for name, label, full in SHOTS:
            if name not in pages:
                continue
            w, h = WIDTHS[label]
            page = browser.new_page(viewport={"width": w, "height": 1400 if not full else h})
            page.goto(pages[name].resolve().as_uri())
            page.wait_for_load_state("load")
            page.wait_for_timeout(800)  # charts animate in
            shot = dest / f"{name}-{label}.png"
            page.screenshot(path=str(shot), full_page=full)
            page.close()
            out.append(shot)
        browser.close()
    return out


def web_screenshots(cases: Path, registry: Path | None, dest: Path) -> list[Path]:
    """The review map (``skypatrol web``) over a copy of a register, a finding selected.

    At desktop width in English and at phone width in Chinese.
    """
    import tempfile

    from playwright.sync_api import sync_playwright

    from pipeline.web import WebConfig, serving

    exe = chromium_path()
    if exe is None:
        raise RuntimeError("chromium is not installed (make system-packages installs it)")
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "cases.gpkg"
        shutil.copy(cases, copy)  # the screenshots review nothing, but leave the demo alone
        with serving(WebConfig(cases=copy, registry=registry)) as url:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
                for name, lang, size in (("web-desktop", "en", (1280, 800)),
                                         ("web-zh-phone", "zh", (390, 1300))):
                    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
                    page.goto(f"{url}?lang={lang}")
                    page.wait_for_selector("body[data-ready='1']")
                    first = page.locator("#queue li").first
                    if first.count():
                        first.click()
                        page.wait_for_selector("#panel[data-task]")
                    page.wait_for_timeout(800)  # the map flies to the finding
                    page.wait_for_function("() => [...document.querySelectorAll("
                                           "'img.leaflet-tile')].every(i => i.complete)",
                                           timeout=60_000)
                    page.wait_for_timeout(700)  # the tiles fade in
                    shot = dest / f"{name}.png"
                    page.screenshot(path=str(shot))
                    page.close()
                    out.append(shot)
                browser.close()
    return out


def main() -> None:
    """Screenshot the demo's first work order, dashboard (English, Chinese) and review map."""
    from pipeline.dashboard import write_dashboard

    demo, dest = Path(sys.argv[1]), Path(sys.argv[2])
    orders = sorted((demo / "survey2" / "squads").glob("*.html"))
    pages = {"dashboard": demo / "dashboard" / "dashboard.html",
             "dashboard-zh": write_dashboard(demo / "cases.gpkg", demo / "dashboard-zh", "zh")}
    if orders:
        pages["work-order"] = orders[0]
    for p in screenshots(pages, dest):
        print(p)
    for p in web_screenshots(demo / "cases.gpkg", demo / "world" / "registry.gpkg", dest):
        print(p)


if __name__ == "__main__":
    main()
