"""Screenshot a perovcalc report.html in headless Chromium, at laptop size by default.

    python scripts/report_screenshot.py results/<campaign>/report/report.html top.png
    python scripts/report_screenshot.py report.html page.png --height 6000   # more of the page

Needs a Chromium (Debian: ``apt-get install chromium``); the PNG is width x height pixels.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser() -> str | None:
    """The first Chromium-like browser on PATH, or None."""
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def screenshot(page: Path, png: Path, width: int = 1366, height: int = 768) -> Path:
    """Render ``page`` (an HTML file) in a width x height window and save the view as ``png``."""
    command = browser()
    if command is None:
        raise SystemExit(f"no Chromium found (looked for {', '.join(BROWSERS)})")
    png = Path(png).resolve()
    with tempfile.TemporaryDirectory() as profile:  # a fresh profile: no state between runs
        subprocess.run(
            [command, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={profile}", f"--window-size={width},{height}",
             f"--screenshot={png}", Path(page).resolve().as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    if not png.is_file():
        raise SystemExit(f"Chromium wrote no screenshot to {png}")
    return png


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="report.html")
    parser.add_argument("png", type=Path, help="PNG file to write")
    parser.add_argument("--width", type=int, default=1366, help="window width, px (1366)")
    parser.add_argument("--height", type=int, default=768, help="window height, px (768)")
    args = parser.parse_args(argv)
    print(screenshot(args.html, args.png, args.width, args.height))


if __name__ == "__main__":
    main()
