"""The widget builder: escaped markup, deterministic output, size budget, manifest, minifier,
build.py's table and snippet, and rebuilds at server start when an input changed."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import brotli
import pytest
import zopfli.gzip

from server.app import create_app
from server.builder import (
    MANIFEST,
    WIDGET_DIR,
    _json,
    _markup,
    budget_warning,
    build_all,
    build_site,
    bundle,
    embed_snippet,
    read_manifest,
)
from server.errors import BuildError
from server.settings import load_settings
from server.sites import SiteConfig, load_site

ROOT = Path(__file__).resolve().parent.parent
DEMO = (ROOT / "sites" / "demo.toml").read_text(encoding="utf-8")
# Copies of the demo get a roomy budget: these tests are about other things than its size.
ROOMY = DEMO.replace("lifetime_days = 180", "lifetime_days = 180\nsize_budget = 50000")
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


def site_file(folder: Path, site_id: str = "shop", text: str = ROOMY) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{site_id}.toml"
    path.write_text(text.replace('id = "demo"', f'id = "{site_id}"', 1), encoding="utf-8")
    return path


def evil_site(folder: Path) -> SiteConfig:
    text = ROOMY.replace('title = "Your privacy at Maison Lumière"', f"title = '{SCRIPT}'") \
        .replace('reopen = "Cookie settings"', f"reopen = '{IMG}'") \
        .replace('accept_all = "Accept all"', f"accept_all = '{IMG}'")
    return load_site(site_file(folder, "evil", text))


def run_build(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "build.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_config_text_with_markup_is_escaped_in_the_bundle(tmp_path: Path) -> None:
    site = evil_site(tmp_path)
    markup = _markup(site, WIDGET_DIR)["en"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in markup
    assert "<script" not in markup and "<img" not in markup
    # The bundle embeds exactly that escaped markup.
    assert _json(_markup(site, WIDGET_DIR)).encode() in bundle(site)


def test_markup_text_cannot_end_the_script_or_break_a_string(tmp_path: Path) -> None:
    text = ROOMY.replace('close = "Close"', 'close = "</script>\u2028\\"end"')
    site = load_site(site_file(tmp_path, "shop", text))
    data = bundle(site).decode()
    assert "</script>" not in data and "</" not in data
    assert "\u2028" not in data


def test_the_demo_site_fits_its_budget(tmp_path: Path) -> None:
    demo = load_site(ROOT / "sites" / "demo.toml")
    result = build_site(demo, tmp_path)
    assert result.gzip <= demo.size_budget == 7500


def test_two_builds_of_the_same_inputs_are_byte_identical(tmp_path: Path) -> None:
    site_file(tmp_path / "sites", "shop")
    site_file(tmp_path / "sites", "other")
    # Different hash seeds too: nothing may depend on set or dict ordering.
    for n, seed in enumerate(("1", "2")):
        result = run_build("--sites", str(tmp_path / "sites"), "--out", str(tmp_path / f"out{n}"),
                           env={"PYTHONHASHSEED": seed})
        assert result.returncode == 0, result.stderr
    first, second = sorted((tmp_path / "out0").iterdir()), sorted((tmp_path / "out1").iterdir())
    assert [p.name for p in first] == [p.name for p in second]
    files = {f"{s}.js{x}" for s in ("shop", "other") for x in ("", ".gz", ".br")}
    assert {p.name for p in first} == files | {MANIFEST}
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_manifest_describes_the_files_it_lists(tmp_path: Path) -> None:
    site = load_site(site_file(tmp_path / "sites"))
    [result] = build_all({"shop": site}, tmp_path / "dist")
    js = (tmp_path / "dist" / "shop.js").read_bytes()
    gz = (tmp_path / "dist" / "shop.js.gz").read_bytes()
    br = (tmp_path / "dist" / "shop.js.br").read_bytes()
    assert gzip.decompress(gz) == js
    assert brotli.decompress(br) == js
    entry = read_manifest(tmp_path / "dist")["shop"]
    assert (entry["raw"], entry["gzip"], entry["brotli"]) == (len(js), len(gz), len(br))
    assert entry["integrity"] == "sha384-" + base64.b64encode(hashlib.sha384(js).digest()).decode()
    assert entry["hash"] == hashlib.sha256(js).hexdigest()[:12]
    assert entry["hashed_file"] == f"shop.{entry['hash']}.js"
    assert result.gzip == len(gz) <= site.size_budget
    assert embed_snippet(result, "https://consent.example") == (
        f'<script src="https://consent.example/widget/shop.{entry["hash"]}.js" '
        f'integrity="{entry["integrity"]}" crossorigin="anonymous"></script>')


def test_over_budget_still_builds_and_warns_naming_site_size_and_budget(tmp_path: Path) -> None:
    site = load_site(site_file(tmp_path / "sites", "shop", DEMO.replace(
        "lifetime_days = 180", "lifetime_days = 180\nsize_budget = 1000")))
    [result] = build_all({"shop": site}, tmp_path / "dist")
    size = len(zopfli.gzip.compress(bundle(site)))
    assert result.gzip == size > 1000
    assert (tmp_path / "dist" / "shop.js.gz").is_file()
    assert budget_warning(site, result) == (
        f"site 'shop': widget is {size:,} bytes gzip, over its budget of 1,000 bytes "
        f"(site.size_budget in {tmp_path / 'sites' / 'shop.toml'}); it is built and served all the same")


def test_build_py_warns_over_budget_in_one_line_and_succeeds(tmp_path: Path) -> None:
    site_file(tmp_path / "sites", "shop", DEMO.replace("lifetime_days = 180",
                                                      "lifetime_days = 180\nsize_budget = 1000"))
    result = run_build("--sites", str(tmp_path / "sites"), "--out", str(tmp_path / "dist"))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("warning: site 'shop': widget is ") and "over its budget of 1,000 bytes" in line
    assert (tmp_path / "dist" / "shop.js").is_file()


def test_server_starts_and_serves_a_widget_over_budget(tmp_path: Path) -> None:
    site_file(tmp_path / "sites", "shop", DEMO.replace("lifetime_days = 180",
                                                      "lifetime_days = 180\nsize_budget = 1000"))
    with warnings.catch_warnings():  # starlette 1.10 asks for httpx2 (a UserWarning); httpx works
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    with TestClient(create_app(_settings(tmp_path))) as client:
        response = client.get("/widget/shop.js")
    assert response.status_code == 200
    assert "crumb" in response.text


def test_build_py_prints_a_size_table_and_the_embed_snippet(tmp_path: Path) -> None:
    site_file(tmp_path / "sites", "shop")
    site_file(tmp_path / "sites", "other")
    result = run_build("--sites", str(tmp_path / "sites"), "--out", str(tmp_path / "dist"), "--site", "shop",
                       "--base-url", "https://consent.example")
    assert result.returncode == 0, result.stderr
    entry = read_manifest(tmp_path / "dist")["shop"]
    assert set(read_manifest(tmp_path / "dist")) == {"shop"}  # only the site asked for
    header, row = result.stdout.splitlines()[:2]
    assert header.split() == ["site", "raw", "gzip", "brotli", "budget"]
    assert row.split()[:4] == ["shop", f"{entry['raw']:,}", f"{entry['gzip']:,}", f"{entry['brotli']:,}"]
    assert row.endswith(f"{entry['gzip'] / 50000:.0%} of 50,000")
    assert (f'<script src="https://consent.example/widget/shop.{entry["hash"]}.js" '
            f'integrity="{entry["integrity"]}" crossorigin="anonymous"></script>') in result.stdout


def test_build_py_names_an_unknown_site(tmp_path: Path) -> None:
    result = run_build("--site", "nope", "--out", str(tmp_path / "dist"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: no site 'nope' in {ROOT / 'sites'}"


def test_the_minifier_renames_local_names_but_not_properties(tmp_path: Path) -> None:
    site = load_site(site_file(tmp_path))
    js = bundle(site).decode()
    assert "function getCookie(" not in js and "function setCookie(" not in js
    assert "'Content-Type'" in js or '"Content-Type"' in js
    assert ".crumb=" in js  # window.crumb is a property: kept
    assert js.startswith("(function(){'use strict';")


def test_newer_syntax_in_a_widget_source_names_the_file_and_line(tmp_path: Path) -> None:
    widget = tmp_path / "widget"
    shutil.copytree(WIDGET_DIR, widget)
    util = widget / "src" / "util.js"
    util.write_text(util.read_text(encoding="utf-8") + "\nvar twice = (x) => x * 2;\n", encoding="utf-8")
    site = load_site(site_file(tmp_path / "sites"))
    with pytest.raises(BuildError, match=r"^widget/src/util\.js: .* at \d+:\d+.*must be ES5"):
        build_site(site, tmp_path / "dist", widget)


def _settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_settings({"sites": str(tmp_path / "sites"), "data": str(tmp_path / "data"),
                          "dist": str(tmp_path / "dist")}, environ={"CRUMB_SECRET_KEY": "x" * 32})


def test_server_start_rebuilds_only_when_the_config_changed(tmp_path: Path) -> None:
    config = site_file(tmp_path / "sites")
    create_app(_settings(tmp_path))
    built = tmp_path / "dist" / "shop.js"
    first, stamp = read_manifest(tmp_path / "dist")["shop"], built.stat().st_mtime_ns

    app = create_app(_settings(tmp_path))  # nothing changed: nothing rewritten
    assert built.stat().st_mtime_ns == stamp
    assert app.state.widgets["shop"].hash == first["hash"]

    config.write_text(config.read_text(encoding="utf-8").replace('title = "Your privacy at Maison Lumière"',
                                                                  'title = "Cookies at the shop"'))
    app = create_app(_settings(tmp_path))
    second = read_manifest(tmp_path / "dist")["shop"]
    assert second["hash"] != first["hash"] and second["inputs"] != first["inputs"]
    assert "Cookies at the shop" in built.read_text(encoding="utf-8")
    assert app.state.widgets["shop"].hash == second["hash"]


def test_a_changed_widget_source_triggers_a_rebuild(tmp_path: Path) -> None:
    widget = tmp_path / "widget"
    shutil.copytree(WIDGET_DIR, widget)
    site = load_site(site_file(tmp_path / "sites"))
    [first] = build_all({"shop": site}, tmp_path / "dist", widget, only_changed=True)
    [same] = build_all({"shop": site}, tmp_path / "dist", widget, only_changed=True)
    assert same == first
    util = widget / "src" / "util.js"
    util.write_text(util.read_text(encoding="utf-8") + "\nW.crumbBuilt = 1;\n", encoding="utf-8")
    [second] = build_all({"shop": site}, tmp_path / "dist", widget, only_changed=True)
    assert second.hash != first.hash
    assert b".crumbBuilt=1" in (tmp_path / "dist" / "shop.js").read_bytes()


def test_a_missing_built_file_is_rebuilt(tmp_path: Path) -> None:
    site = load_site(site_file(tmp_path / "sites"))
    build_all({"shop": site}, tmp_path / "dist", only_changed=True)
    (tmp_path / "dist" / "shop.js.br").unlink()
    build_all({"shop": site}, tmp_path / "dist", only_changed=True)
    assert (tmp_path / "dist" / "shop.js.br").exists()


def test_the_manifest_is_json_with_an_entry_per_built_site(tmp_path: Path) -> None:
    sites = {sid: load_site(site_file(tmp_path / "sites", sid)) for sid in ("one", "two")}
    build_all(sites, tmp_path / "dist")
    data = json.loads((tmp_path / "dist" / MANIFEST).read_text(encoding="utf-8"))
    assert sorted(data) == ["one", "two"]
    build_all({"one": sites["one"]}, tmp_path / "dist")  # building one keeps the other's entry
    assert sorted(read_manifest(tmp_path / "dist")) == ["one", "two"]


@pytest.mark.parametrize(("change", "problem"), [
    ("{{ t.no_such_text }}", "'dict object' has no attribute 'no_such_text'"),
    ("{% if %}", "widget/banner.html.j2 line 1: Expected an expression"),
])
def test_a_broken_banner_template_is_one_build_error(tmp_path: Path, change: str, problem: str) -> None:
    widget = tmp_path / "widget"
    shutil.copytree(WIDGET_DIR, widget)
    (widget / "banner.html.j2").write_text(change + "\n", encoding="utf-8")
    site = load_site(site_file(tmp_path / "sites"))
    with pytest.raises(BuildError, match=r"^widget/banner\.html\.j2") as caught:
        build_site(site, tmp_path / "dist", widget)
    assert problem in str(caught.value)


def test_build_py_names_an_output_folder_it_cannot_write(tmp_path: Path) -> None:
    site_file(tmp_path / "sites", "shop")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    result = run_build("--sites", str(tmp_path / "sites"), "--out", str(blocker / "dist"))
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot write {blocker / 'dist'}")
