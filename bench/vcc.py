"""The anchor: vanilla-cookieconsent 3.1 from the npm registry, configured like the demo site."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.common import CACHE, BenchError, PartResult

SPEC = "vanilla-cookieconsent@3.1"
PREFIX = CACHE / "npm"
PACKAGE = PREFIX / "node_modules" / "vanilla-cookieconsent"
JS = PACKAGE / "dist" / "cookieconsent.umd.js"
CSS = PACKAGE / "dist" / "cookieconsent.css"
INSTALL = ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(PREFIX), SPEC]


def version() -> str:
    return str(json.loads((PACKAGE / "package.json").read_text())["version"])


def ensure(result: PartResult) -> tuple[Path, Path]:
    """Install the package into bench/.cache once; returns (umd.js, css)."""
    if not (JS.exists() and CSS.exists() and version().startswith("3.1.")):
        if shutil.which("npm") is None:
            raise BenchError("npm is missing: install Node.js and npm (`apt-get install -y nodejs npm`), "
                             f"or run `{' '.join(INSTALL)}` on a machine that has them")
        PREFIX.mkdir(parents=True, exist_ok=True)
        out = subprocess.run(INSTALL, capture_output=True, text=True, timeout=300)
        if out.returncode != 0 or not JS.exists():
            raise BenchError(f"`{' '.join(INSTALL)}` failed: {out.stderr.strip()[-300:]}")
    result.command(" ".join([*INSTALL[:-3], "--prefix", "bench/.cache/npm", SPEC]))
    return JS, CSS


def _translation(site: Any, texts: dict[str, Any]) -> dict[str, Any]:
    cats = texts["categories"]
    sections: list[dict[str, Any]] = [{"description": texts["preferences_body"]}]
    sections += [{"title": cats[c.id]["title"], "description": cats[c.id]["description"],
                  "linkedCategory": c.id} for c in site.categories]
    return {
        "consentModal": {
            "title": texts["title"],
            "description": f'{texts["body"]} <a href="{site.policy_url}">{texts["policy_link"]}</a>',
            "acceptAllBtn": texts["accept_all"],
            "acceptNecessaryBtn": texts["reject_all"],
            "showPreferencesBtn": texts["customize"],
        },
        "preferencesModal": {
            "title": texts["preferences_title"],
            "acceptAllBtn": texts["accept_all"],
            "acceptNecessaryBtn": texts["reject_all"],
            "savePreferencesBtn": texts["save"],
            "closeIconLabel": texts["close"],
            "sections": sections,
        },
    }


def config(site: Any) -> dict[str, Any]:
    """The same categories, services, cookies and texts (every language) as Crumb's demo widget."""
    categories: dict[str, Any] = {}
    for c in site.categories:
        entry: dict[str, Any] = {"enabled": True, "readOnly": True} if c.required else {}
        if c.services:
            entry["services"] = {s.id: {"label": s.name} for s in c.services}
        if c.cookies and not c.required:
            entry["autoClear"] = {"cookies": [{"name": name} for name in c.cookies]}
        categories[c.id] = entry
    return {
        "hideFromBots": False,  # it hides from automated browsers by default
        "guiOptions": {"consentModal": {"layout": "bar", "position": "bottom"}},
        "categories": categories,
        "language": {
            "default": site.default_language,
            "autoDetect": "document",
            "translations": {lang: _translation(site, t) for lang, t in sorted(site.texts.items())},
        },
    }


def run_script(site: Any) -> str:
    """The inline script a site adds after the UMD bundle."""
    return "CookieConsent.run(" + json.dumps(config(site), ensure_ascii=False, separators=(",", ":")) + ");"
