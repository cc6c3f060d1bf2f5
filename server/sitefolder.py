"""The sites a server serves: every config in the sites folder, plus the packaged demo shop's
when the demo is on and the folder has no `demo.toml` of its own."""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError
from .resources import DEMO_SITE
from .settings import Settings
from .sites import SiteConfig, load_site, load_sites

HINT = "create one with `crumb init --site ID --origin URL`, or try the demo with `crumb serve --demo`"


def config_files(settings: Settings) -> list[Path]:
    """The config files to load, in load order."""
    files = sorted(settings.sites_dir.glob("*.toml")) if settings.sites_dir.is_dir() else []
    if settings.demo and not any(f.name == "demo.toml" for f in files):
        files.append(DEMO_SITE)
    return files


def load(settings: Settings) -> dict[str, SiteConfig]:
    """Load and validate every site; ConfigError names the file, key and problem."""
    files = config_files(settings)
    if not files:
        if not settings.sites_dir.is_dir():
            raise ConfigError(str(settings.sites_dir), "", f"sites folder does not exist ({HINT})")
        return load_sites(settings.sites_dir)  # raises: no site configs found
    return {cfg.id: cfg for cfg in (load_site(f) for f in files)}
