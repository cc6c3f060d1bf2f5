"""Bad start-up input ends the start with one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_server(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
               timeout: float = 30) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CRUMB_")}
    full_env = {**base, "CRUMB_DATA": str(tmp_path / "data"), "CRUMB_DIST": str(tmp_path / "dist"),
                **(env or {})}
    return subprocess.run([sys.executable, "-m", "server", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def sites_with(tmp_path: Path, text: str, name: str = "shop.toml") -> Path:
    folder = tmp_path / "sites"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_malformed_site_config_names_the_file(tmp_path: Path) -> None:
    folder = sites_with(tmp_path, "[site\nid = 'shop'\n")
    result = run_server(tmp_path, "--sites", str(folder), "--port", "0")
    assert_one_clear_line(result, "shop.toml", "not valid TOML")


def test_invalid_site_config_names_file_key_and_expectation(tmp_path: Path) -> None:
    demo = (ROOT / "sites" / "demo.toml").read_text(encoding="utf-8")
    broken = demo.replace('id = "demo"', 'id = "shop"', 1).replace(
        "lifetime_days = 180", 'lifetime_days = "forever"')
    folder = sites_with(tmp_path, broken)
    result = run_server(tmp_path, "--sites", str(folder), "--port", "0")
    assert_one_clear_line(result, "shop.toml", "site.lifetime_days", "expected a whole number")


def test_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_server(tmp_path, "--port", str(port), env={"CRUMB_SECRET_KEY": "x" * 32})
    assert_one_clear_line(result, f"port {port}", "already in use")


def test_unwritable_data_folder_is_named(tmp_path: Path) -> None:
    # A path below a regular file can never be created, even by root.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    result = run_server(tmp_path, "--port", "0", env={"CRUMB_DATA": str(blocker / "data")})
    assert_one_clear_line(result, "data folder", "not-a-folder", "not writable")


def test_production_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    result = run_server(tmp_path, "--port", "0", env={"CRUMB_ENV": "production"})
    assert_one_clear_line(result, "CRUMB_SECRET_KEY is not set", "production")


def test_development_generates_a_secret_once_and_warns(tmp_path: Path) -> None:
    from server.settings import ensure_secret, load_settings

    settings = load_settings({}, {"CRUMB_DATA": str(tmp_path)})
    first = ensure_secret(settings)
    second = ensure_secret(settings)
    assert first.secret_keys == second.secret_keys
    assert len(first.signing_key) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_bad_port_flag_is_a_clear_error(tmp_path: Path) -> None:
    result = run_server(tmp_path, "--port", "eighty")
    assert_one_clear_line(result, "--port", "whole number")


def test_flags_win_over_environment() -> None:
    from server.settings import load_settings

    settings = load_settings({"port": "9001", "host": None},
                             {"CRUMB_PORT": "9000", "CRUMB_HOST": "0.0.0.0", "CRUMB_WORKERS": "3"})
    assert (settings.port, settings.host, settings.workers) == (9001, "0.0.0.0", 3)
