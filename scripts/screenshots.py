"""Screenshots of the demo banner and preferences for the README: `python scripts/screenshots.py`.

Starts the real server on a free port with a throw-away data folder, opens the demo shop in
Chromium (desktop 1280x800 and phone 360x740) and writes docs/screenshots/*.png.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("CRUMB_CHROMIUM", "/usr/bin/chromium")
VIEWPORTS = {"desktop": (1280, 800), "mobile": (360, 740)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "CRUMB_DATA": str(data), "CRUMB_DIST": str(data / "dist"),
           "CRUMB_SECRET_KEY": "screenshot-secret-0123456789abcdef"}
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "server", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"error: the server did not start:\n{(data / 'server.log').read_text()}")


def _shoot(page: Page, url: str, name: str) -> list[Path]:
    page.goto(f"{url}/demo/")
    page.locator("#crumb-host .crumb-banner").wait_for()
    page.evaluate("document.fonts.ready")
    banner = OUT / f"banner-{name}.png"
    page.screenshot(path=banner)
    page.locator('#crumb-host .crumb-banner [data-a="prefs"]').click()
    page.locator("#crumb-host .crumb-prefs").wait_for()
    page.locator("#crumb-host .crumb-prefs details").last.evaluate("d => d.open = true")
    prefs = OUT / f"preferences-{name}.png"
    page.screenshot(path=prefs)
    return [banner, prefs]


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"error: Chromium not found at {CHROMIUM} (apt-get install -y chromium)", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = _start(Path(tmp))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM)
                for name, (width, height) in VIEWPORTS.items():
                    context = browser.new_context(viewport={"width": width, "height": height})
                    for path in _shoot(context.new_page(), url, name):
                        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size:,} bytes)")
                    context.close()
                browser.close()
        finally:
            proc.terminate()
            proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
