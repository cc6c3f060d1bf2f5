"""Site configs: every mistake a site owner can make is one error naming file, key path and
what was expected, from the loader, from `python build.py` and from `python -m server`."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from server.errors import ConfigError
from server.sites import TEXT_KEYS, load_site, load_sites, parse_site

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "sites/shop.toml"


def texts(lang: str) -> dict[str, Any]:
    t: dict[str, Any] = {key: f"{lang} {key}" for key in TEXT_KEYS}
    t["placeholder"] = "{service} needs {category}"
    t["categories"] = {"necessary": {"title": "N", "description": "needed"},
                       "analytics": {"title": "A", "description": "counting"}}
    return t


def config() -> dict[str, Any]:
    """A small valid config: two categories, one service, two languages."""
    return {
        "site": {
            "id": "shop", "name": "Shop", "contact": "privacy@shop.example",
            "origins": ["https://shop.example"], "policy_url": "/privacy",
            "policy_version": "2026-11-01", "default_language": "en",
        },
        "categories": [
            {"id": "necessary", "required": True},
            {"id": "analytics", "cookies": ["_ga", "_ga_*"],
             "services": [{"id": "stats", "name": "Stats", "hosts": ["*.stats.example"]}]},
        ],
        "integrations": {"consent_mode": True},
        "ui": {"colors": {"accent": "#123456"}},
        "texts": {"en": texts("en"), "de": texts("de")},
    }


def test_a_valid_config_loads_with_defaults() -> None:
    site = parse_site(config(), SOURCE)
    assert site.lifetime_days == 180
    assert site.cookie_name == "crumb_consent"
    assert site.size_budget == 7500
    assert site.category_ids == ("necessary", "analytics")
    assert site.required_ids == ("necessary",)
    assert [c.default for c in site.categories] == [True, False]
    assert site.integrations.consent_mode_map == {"analytics": ("analytics_storage",)}
    assert site.integrations.gpc is True
    assert site.ui.position == "bottom"


def test_the_demo_config_loads() -> None:
    sites = load_sites(ROOT / "sites")
    assert "demo" in sites
    assert set(sites["demo"].texts) >= {"en", "de", "zh"}


def test_origins_are_stored_the_way_browsers_send_them() -> None:
    data = config()
    data["site"]["origins"] = ["https://Shop.Example:443/", "http://127.0.0.1:8000", "http://[::1]:8000"]
    site = parse_site(data, SOURCE)
    assert site.origins == ("https://shop.example", "http://127.0.0.1:8000", "http://[::1]:8000")


def test_an_unquoted_toml_date_is_a_policy_version() -> None:
    data = config()
    data["site"]["policy_version"] = datetime.date(2026, 11, 1)
    assert parse_site(data, SOURCE).policy_version == "2026-11-01"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting one key; path parts are dict keys or list indexes."""
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split("/")]
        target: Any = data
        for part in parents:
            target = target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return mutate


_DELETE = object()

CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    # unknown keys (typos)
    ("top-level typo", _set("colour", "red"), "colour", "unknown key"),
    ("site typo", _set("site/lifetime_day", 30), "site.lifetime_day", "unknown key"),
    ("category typo", _set("categories/1/requried", True), "categories[1].requried", "unknown key"),
    ("service typo", _set("categories/1/services/0/host", ["x.example"]),
     "categories[1].services[0].host", "unknown key"),
    ("integrations typo", _set("integrations/consentmode", True), "integrations.consentmode", "unknown key"),
    ("ui typo", _set("ui/postion", "top"), "ui.postion", "unknown key"),
    ("text typo", _set("texts/en/titel", "Hi"), "texts.en.titel", "unknown text"),
    ("category text typo", _set("texts/en/categories/analytics/desc", "x"),
     "texts.en.categories.analytics.desc", "unknown key"),
    # wrong types
    ("number as text", _set("site/lifetime_days", "forever"), "site.lifetime_days",
     "expected a whole number, got a string"),
    ("boolean as number", _set("site/lifetime_days", True), "site.lifetime_days",
     "expected a whole number, got a boolean"),
    ("fraction", _set("site/size_budget", 7.5), "site.size_budget", "expected a whole number, got a number"),
    ("boolean as text", _set("categories/1/required", "yes"), "categories[1].required",
     "expected a boolean, got a string"),
    ("list as text", _set("site/origins", "https://shop.example"), "site.origins",
     "expected a list, got a string"),
    ("list item type", _set("categories/1/cookies", ["_ga", 3]), "categories[1].cookies[1]",
     "expected a string, got a whole number"),
    ("table instead of list of tables", _set("categories", {"id": "necessary"}), "categories",
     "write [[categories]], not [categories]"),
    ("text as number", _set("texts/en/title", 1), "texts.en.title", "expected a string, got a whole number"),
    ("section as text", _set("ui", "dark"), "ui", "expected a table, got a string"),
    ("date where text", _set("site/name", datetime.date(2026, 1, 1)), "site.name",
     "expected a string, got a date"),
    # required keys and empty values
    ("missing site id", _set("site/id", _DELETE), "site.id", "is required (a string)"),
    ("missing site table", _set("site", _DELETE), "site", "is required (a table)"),
    ("missing texts", _set("texts", _DELETE), "texts", "is required (a table)"),
    ("no languages", _set("texts", {}), "texts", "at least one language is required"),
    ("no categories", _set("categories", []), "categories", "at least one category is required"),
    ("no origins", _set("site/origins", []), "site.origins", "at least one origin is required"),
    ("empty text", _set("texts/en/title", "  "), "texts.en.title", "must not be empty"),
    ("missing category description", _set("texts/en/categories/analytics/description", _DELETE),
     "texts.en.categories.analytics.description", "is required (a string)"),
    # a language missing what another has
    ("language missing a text", _set("texts/de/gpc_notice", _DELETE), "texts.de.gpc_notice",
     "missing: language 'en' has this text, 'de' must too"),
    ("the only language missing a text", lambda d: (d["texts"].pop("de"), d["texts"]["en"].pop("withdraw")),
     "texts.en.withdraw", "missing: required text"),
    ("language missing a category", _set("texts/de/categories/analytics", _DELETE),
     "texts.de.categories.analytics", "every category needs a title and description in every language"),
    # duplicate ids
    ("duplicate category", lambda d: d["categories"].append({"id": "analytics"}), "categories[2].id",
     "duplicate id 'analytics'"),
    ("duplicate service in a category",
     lambda d: d["categories"][1]["services"].append({"id": "stats", "name": "Again"}),
     "categories[1].services[1].id", "duplicate id 'stats'"),
    ("duplicate service across categories",
     _set("categories/0/services", [{"id": "stats", "name": "Stats"}]),
     "categories[1].services[0].id", "already a service of category 'necessary'"),
    ("duplicate origin", _set("site/origins", ["https://shop.example", "https://SHOP.example/"]),
     "site.origins[1]", "duplicate origin 'https://shop.example'"),
    # origins that are not origins
    ("origin without scheme", _set("site/origins", ["shop.example"]), "site.origins[0]",
     "expected an origin like https://shop.example"),
    ("origin with a path", _set("site/origins", ["https://shop.example/shop"]), "site.origins[0]",
     "expected an origin"),
    ("origin with another scheme", _set("site/origins", ["ftp://shop.example"]), "site.origins[0]",
     "expected an origin"),
    ("origin with a bad port", _set("site/origins", ["https://shop.example:99999"]), "site.origins[0]",
     "expected an origin"),
    ("origin with a broken IPv6 host", _set("site/origins", ["http://[::1"]), "site.origins[0]",
     "expected an origin"),
    ("origin with a space", _set("site/origins", ["https://shop example"]), "site.origins[0]",
     "expected an origin"),
    # categories referenced but not declared
    ("consent mode map names an unknown category",
     _set("integrations/consent_mode_map", {"ads": ["ad_storage"]}),
     "integrations.consent_mode_map.ads", "names a category that is not declared in [[categories]]"),
    ("texts name an unknown category", _set("texts/en/categories/ads", {"title": "Ads", "description": "x"}),
     "texts.en.categories.ads", "names a category that is not declared in [[categories]]"),
    # consent mode signals
    ("unknown signal", _set("integrations/consent_mode_map", {"analytics": ["analytics"]}),
     "integrations.consent_mode_map.analytics[0]", "expected one of ad_storage"),
    ("signal as text", _set("integrations/consent_mode_map", {"analytics": "analytics_storage"}),
     "integrations.consent_mode_map.analytics", "expected a list, got a string"),
    ("signal in two categories",
     _set("integrations/consent_mode_map", {"necessary": ["ad_storage"], "analytics": ["ad_storage"]}),
     "integrations.consent_mode_map.analytics[0]", "already mapped to category 'necessary'"),
    ("wait out of range", _set("integrations/wait_for_update", 60000), "integrations.wait_for_update",
     "expected milliseconds from 0 to 10000"),
    # category rules
    ("required but off", _set("categories/0/default", False), "categories[0].default",
     "a required category is always on"),
    ("required but GPC opt-out", _set("categories/0/gpc_optout", True), "categories[0].gpc_optout",
     "cannot be switched off by GPC"),
    ("bad category id", _set("categories/1/id", "Analytics!"), "categories[1].id", "expected an id"),
    ("bad cookie pattern", _set("categories/1/cookies", ["_ga;x"]), "categories[1].cookies[0]",
     "expected a cookie name or pattern"),
    ("host given as URL", _set("categories/1/services/0/hosts", ["https://stats.example"]),
     "categories[1].services[0].hosts[0]", "expected a host pattern"),
    # site values
    ("bad site id", _set("site/id", "My Shop"), "site.id", "expected an id"),
    ("script URL as policy", _set("site/policy_url", "javascript:alert(1)"), "site.policy_url",
     "expected an https:// URL or a path on the site"),
    ("protocol-relative policy", _set("site/policy_url", "//evil.example/p"), "site.policy_url",
     "expected an https:// URL or a path"),
    ("API URL with a query", _set("site/api_url", "https://api.example/?x=1"), "site.api_url",
     "without ?query or #fragment"),
    ("contact that is neither mail nor URL", _set("site/contact", "call us"), "site.contact",
     "expected an email address or an https:// URL"),
    ("lifetime out of range", _set("site/lifetime_days", 0), "site.lifetime_days",
     "expected days from 1 to 3650"),
    ("zero budget", _set("site/size_budget", 0), "site.size_budget", "expected a positive number of bytes"),
    ("bad cookie name", _set("site/cookie_name", "my cookie"), "site.cookie_name", "expected a cookie name"),
    ("default language without texts", _set("site/default_language", "fr"), "site.default_language",
     "'fr' has no [texts.fr] table"),
    ("bad language tag", _set("texts/English", texts("en")), "texts.English",
     "expected a language tag like en, de or zh-CN"),
    # texts and UI
    ("misspelt placeholder", _set("texts/de/placeholder", "{service} braucht {categroy}"),
     "texts.de.placeholder", "unknown placeholder {categroy} (this text may use: {service}, {category})"),
    ("unknown position", _set("ui/position", "left"), "ui.position", "expected one of bottom, top"),
    ("unknown corner", _set("ui/floating_corner", "top-left"), "ui.floating_corner",
     "expected one of bottom-left, bottom-right"),
    ("CSS injection in a colour", _set("ui/colors/accent", "red;}body{display:none"), "ui.colors.accent",
     "expected a CSS colour"),
    ("bad colour name", _set("ui/colors/Accent Color", "red"), "ui.colors.Accent Color",
     "expected a colour name"),
]


@pytest.mark.parametrize(("mutate", "key", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_mistake_names_file_key_and_expectation(
        mutate: Callable[[dict[str, Any]], None], key: str, problem: str) -> None:
    data = config()
    mutate(data)
    with pytest.raises(ConfigError) as caught:
        parse_site(data, SOURCE)
    err = caught.value
    assert (err.source, err.key) == (SOURCE, key)
    assert problem in err.problem
    assert str(err) == f"{SOURCE}: {key}: {err.problem}"
    assert "\n" not in str(err)


def write(folder: Path, name: str, text: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def demo_as(site_id: str) -> str:
    demo = (ROOT / "sites" / "demo.toml").read_text(encoding="utf-8")
    return demo.replace('id = "demo"', f'id = "{site_id}"', 1)


@pytest.mark.parametrize(("name", "content", "key", "problem"), [
    ("shop.toml", "[site\nid = 'shop'\n", "", "(at line 1, column 6)"),
    ("shop.toml", b"[site]\nname = '\xff'\n", "", "not UTF-8 text"),
    ("shop.toml", demo_as("other"), "site.id", "must match the file name 'shop', got 'other'"),
])
def test_file_level_mistakes_name_the_file(tmp_path: Path, name: str, content: str | bytes, key: str,
                                           problem: str) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(ConfigError) as caught:
        load_site(path)
    assert (caught.value.source, caught.value.key) == (str(path), key)
    assert problem in caught.value.problem


def test_a_missing_or_empty_sites_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sites folder does not exist"):
        load_sites(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"no site configs \(\*\.toml\) found"):
        load_sites(tmp_path)


BROKEN = demo_as("shop").replace(
    "consent_mode = true", 'consent_mode = true\n  [integrations.consent_mode_map]\n  ads = ["ad_storage"]')


def _one_error_line(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_build_py_prints_one_line_for_a_bad_config_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "sites"
    write(folder, "shop.toml", BROKEN)
    result = subprocess.run([sys.executable, "build.py", "--sites", str(folder),
                             "--out", str(tmp_path / "dist")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    _one_error_line(result, "shop.toml", "integrations.consent_mode_map.ads",
                    "names a category that is not declared")
    assert not (tmp_path / "dist").exists()


def test_server_start_prints_one_line_for_a_bad_config(tmp_path: Path) -> None:
    folder = tmp_path / "sites"
    write(folder, "shop.toml", BROKEN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRUMB_")}
    env.update({"CRUMB_DATA": str(tmp_path / "data"), "CRUMB_DIST": str(tmp_path / "dist"),
                "CRUMB_SECRET_KEY": "x" * 32})
    result = subprocess.run([sys.executable, "-m", "server", "--sites", str(folder), "--port", "0"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    _one_error_line(result, "shop.toml", "integrations.consent_mode_map.ads",
                    "not declared in [[categories]]")
    assert not (tmp_path / "dist").exists()


def test_docs_config_documents_every_key() -> None:
    from dataclasses import fields

    from server.sites import UI, Category, Integrations, Service, SiteConfig

    doc = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    keys = {f.name for cls in (SiteConfig, Category, Service, Integrations, UI) for f in fields(cls)}
    keys |= set(TEXT_KEYS) | {"title", "description"}
    missing = sorted(k for k in keys - {"source"} if f"`{k}`" not in doc and f"`[{k}" not in doc
                     and f"`[[{k}" not in doc)
    assert missing == []
