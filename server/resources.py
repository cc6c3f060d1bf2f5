"""Where Crumb's own files are: inside the installed package, or beside it in a checkout.

A wheel carries the widget sources and the demo site's config inside `server/` as package data
(setup.py copies them there); a checkout keeps them at the top level, in `widget/` and `sites/`.
State never goes here: it lives in the data folder (settings.data_dir).
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def _bundled(inside: str, checkout: str) -> Path:
    installed = PACKAGE / inside
    return installed if installed.exists() else PACKAGE.parent / checkout


WIDGET_DIR = _bundled("widget", "widget")
DEMO_SITE = _bundled("demo_site/demo.toml", "sites/demo.toml")
TEMPLATES_DIR = PACKAGE / "templates"
STATIC_DIR = PACKAGE / "static"
