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


def chromium_path() -> str | None:
    """Debian's Chromium, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshots(pages: dict[str, Path], dest: Path) -> list[Path]:
    """Full-page PNGs of each page at each width."""
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise RuntimeError("chromium is not installed (make browser installs it)")
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        for name, page_path in pages.items():
            for label, (w, h) in WIDTHS.items():
                page = browser.new_page(viewport={"width": w, "height": h})
                page.goto(page_path.resolve().as_uri())
                shot = dest / f"{name}-{label}.png"
                page.screenshot(path=str(shot), full_page=True)
                page.close()
                out.append(shot)
        browser.close()
    return out


def main() -> None:
    """Screenshot the demo's dashboard and first work order."""
    demo, dest = Path(sys.argv[1]), Path(sys.argv[2])
    orders = sorted((demo / "survey2" / "squads").glob("*.html"))
    pages = {"dashboard": demo / "dashboard" / "dashboard.html"}
    if orders:
        pages["work-order"] = orders[0]
    for p in screenshots(pages, dest):
        print(p)


if __name__ == "__main__":
    main()
