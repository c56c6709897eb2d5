#!/usr/bin/env python3
"""A PNG of a results page as a browser draws it, plots included: the README's picture.

    python scripts/page_png.py results/index.html docs/report.png [--width 1300] [--height 1500]

Headless Chromium (Debian's `chromium`, as the browser tests use) opens the page from
disk, runs its scripts for a few seconds of virtual time (plotly draws every plot), and
saves the top WIDTH x HEIGHT pixels. Exit status 1 and one line if Chromium is missing or
writes no picture.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--virtual-time-budget=10000")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("page", type=Path)
    p.add_argument("png", type=Path)
    p.add_argument("--width", type=int, default=1300)
    p.add_argument("--height", type=int, default=1500)
    args = p.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("page_png.py: no chromium here (apt-get install chromium)", file=sys.stderr)
        return 1
    if not args.page.is_file():
        print(f"page_png.py: no page {args.page}", file=sys.stderr)
        return 1
    args.png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}",
                        f"--window-size={args.width},{args.height}",
                        f"--screenshot={args.png.resolve()}", args.page.resolve().as_uri()],
                       capture_output=True, timeout=120)
    if not args.png.exists():
        print(f"page_png.py: chromium wrote no picture of {args.page}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
