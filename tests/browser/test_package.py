"""Crumb as a site owner gets it: the wheel (built from the sdist) installed into a fresh
virtual environment, run from an empty folder with nothing but the `crumb` command."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from ..conftest import ROOT, free_port
from .helpers import banner, click_banner


@dataclass(frozen=True)
class Installed:
    bin: Path
    package: Path  # the installed `server` package
    env: dict[str, str]


def _run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{argv}: {result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Build the sdist and, from it, the wheel once; install the wheel and its dependencies into
    a new venv (pip's download cache may serve the files; nothing of this venv is shared)."""
    tmp = tmp_path_factory.mktemp("package")
    _run(sys.executable, "-m", "build", "--outdir", tmp / "dist", ROOT, cwd=tmp)
    [wheel] = (tmp / "dist").glob("crumb-*.whl")
    assert len(list((tmp / "dist").glob("crumb-*.tar.gz"))) == 1
    venv = tmp / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CRUMB_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    _run(venv / "bin" / "pip", "install", "-q", wheel, cwd=tmp, env=env)
    code = "import server, pathlib; print(pathlib.Path(server.__file__).parent)"
    package = Path(_run(venv / "bin" / "python", "-c", code, cwd=tmp, env=env).stdout.strip())
    assert venv in package.parents  # the installed copy, not the checkout
    return Installed(venv / "bin", package, env)


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if "__pycache__" not in p.parts}


@contextlib.contextmanager
def _serving(installed: Installed, folder: Path, *flags: str) -> Iterator[str]:
    """`crumb serve` in `folder` on a free port; yields its URL once /healthz answers."""
    port = free_port()
    log = (folder / "serve.log").open("wb")
    process = subprocess.Popen([installed.bin / "crumb", "serve", "--port", str(port), *flags],
                               cwd=folder, env=installed.env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (folder / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (folder / "serve.log").read_text()
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_crumb_init_then_serve_shows_the_new_sites_banner(installed: Installed, page: Page,
                                                           tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    shop.mkdir()
    package_files = _files(installed.package)
    _run(installed.bin / "crumb", "init", "--site", "myshop", "--origin", "https://shop.example",
         cwd=shop, env=installed.env)
    with _serving(installed, shop) as url:
        page.goto(f"{url}/")
        page.get_by_role("link", name="myshop").click()
        expect(banner(page)).to_be_visible()
        expect(banner(page)).to_contain_text("Your privacy at shop.example")
        with page.expect_response(lambda r: r.url.endswith("/api/myshop/consent")) as answer:
            click_banner(page, "reject")
        assert answer.value.status == 201
        assert httpx.get(f"{url}/demo/").status_code == 404  # the demo only when asked for
    # State went to ./data under the folder it ran in, nothing into the installed package.
    assert {"secret_key", "crumb.sqlite3", "dist/myshop.js", "dist/manifest.json"} <= _files(shop / "data")
    assert _files(installed.package) == package_files
    verify = _run(installed.bin / "crumb", "verify", cwd=shop, env=installed.env)
    assert verify.stdout == "myshop: ok, 1 events, chain intact\n"


def test_the_installed_package_carries_the_demo_and_every_command(installed: Installed, page: Page,
                                                                  tmp_path: Path) -> None:
    usage = _run(installed.bin / "crumb", "--help", cwd=tmp_path, env=installed.env).stdout
    same = _run(installed.bin / "python", "-m", "server", "--help", cwd=tmp_path, env=installed.env).stdout
    assert usage.startswith("usage: crumb ") and same.startswith("usage: python -m server ")
    for command in ("serve", "build", "init", "verify", "purge", "erase", "hash-password",
                    "migrate-sqlite-to-postgres"):
        assert f"    {command}" in usage and f"    {command}" in same
    with _serving(installed, tmp_path, "--demo") as url:
        page.goto(f"{url}/demo/")
        expect(banner(page)).to_be_visible()
        expect(page.locator("h1")).to_contain_text("Fine jewelry")
    assert not (tmp_path / "sites").exists()
