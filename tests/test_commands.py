"""The `crumb` command line: one parser for `crumb` and `python -m server`, and `crumb init`."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from server.cli import main, parser
from server.sites import load_site

from .conftest import ROOT

EVERY_COMMAND = ["serve", "build", "init", "verify", "purge", "erase", "migrate-sqlite-to-postgres",
                 "hash-password"]


def _commands() -> list[str]:
    [sub] = [a for a in parser()._actions if a.dest == "command"]
    return list(sub.choices)  # type: ignore[arg-type]


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert set(EVERY_COMMAND) <= set(_commands())
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for command in _commands():
        assert f"    {command}" in out, command


def test_python_m_server_is_the_same_command_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRUMB_")}
    result = subprocess.run([sys.executable, "-m", "server", "--help"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: python -m server ")
    for command in _commands():
        assert f"    {command}" in result.stdout, command


def test_serve_in_a_folder_without_sites_names_the_way_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("CRUMB_")]:
        monkeypatch.delenv(key)
    assert main(["serve", "--port", "0"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line == (f"error: {tmp_path / 'sites'}: sites folder does not exist (create one with "
                    "`crumb init --site ID --origin URL`, or try the demo with `crumb serve --demo`)")
    assert not (tmp_path / "sites").exists()


def test_init_writes_a_commented_config_the_server_accepts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--site", "myshop", "--origin", "https://shop.example",
                 "--origin", "https://www.shop.example"]) == 0
    path = tmp_path / "sites" / "myshop.toml"
    assert capsys.readouterr().out.startswith(f"wrote {path}\n")
    site = load_site(path)
    assert site.origins == ("https://shop.example", "https://www.shop.example")
    assert (site.name, site.contact, site.default_language) == ("shop.example", "privacy@shop.example", "en")
    assert site.category_ids == ("necessary", "preferences", "analytics", "marketing")
    text = path.read_text(encoding="utf-8")
    assert text.count("\n#") + text.count("   #") >= 10  # commented for the owner who edits it
    assert tomllib.loads(text)["site"]["policy_url"] == "/privacy"


def test_init_never_overwrites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "myshop.toml").write_text("# mine\n")
    assert main(["init", "--site", "myshop", "--origin", "https://shop.example"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    target = tmp_path / "sites" / "myshop.toml"
    assert line == f"error: {target} already exists; crumb init never overwrites a config"
    assert (tmp_path / "sites" / "myshop.toml").read_text() == "# mine\n"


@pytest.mark.parametrize(("flags", "fragment"), [
    (["--site", "My Shop", "--origin", "https://shop.example"], "site.id: expected an id"),
    (["--site", "shop", "--origin", "https://shop.example/path"], "site.origins[0]"),
    (["--site", "shop", "--origin", "https://shop.example", "--policy-url", "javascript:x"],
     "site.policy_url"),
])
def test_init_refuses_bad_flags_in_one_line_writing_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        flags: list[str], fragment: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", *flags]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert fragment in line and line.endswith("(from the flags; nothing was written)")
    assert not (tmp_path / "sites").exists()
