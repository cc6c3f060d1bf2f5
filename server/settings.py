"""Server settings: one frozen object built in one place (flags > CRUMB_* env > defaults).

Nothing else in Crumb reads os.environ. Paths default to the current folder (`./sites`,
`./data`), never to the installed package: state belongs to the deployment, not to the code.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import StartupError

_ENV_KEYS = {
    "host": "CRUMB_HOST",
    "port": "CRUMB_PORT",
    "sites": "CRUMB_SITES",
    "db": "CRUMB_DB",
    "workers": "CRUMB_WORKERS",
    "data": "CRUMB_DATA",
    "dist": "CRUMB_DIST",
    "database_url": "CRUMB_DATABASE_URL",
    "demo": "CRUMB_DEMO",
}


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    sites_dir: Path = field(default_factory=lambda: Path.cwd() / "sites")
    data_dir: Path = field(default_factory=lambda: Path.cwd() / "data")
    dist_dir: Path = field(default_factory=lambda: Path.cwd() / "data" / "dist")  # built widgets
    db_path: Path = field(default_factory=lambda: Path.cwd() / "data" / "crumb.sqlite3")
    database_url: str = ""
    secret_keys: tuple[str, ...] = field(default=(), repr=False)
    admin_password_hash: str = field(default="", repr=False)
    admin_session_minutes: int = 480
    admin_login_failures: int = 5  # failed logins allowed per IP hash in 15 minutes (0 = no limit)
    rate_limit_per_minute: int = 120
    demo: bool = True  # the demo shop under /demo/ (its site config comes with the package)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def signing_key(self) -> str:
        """The newest secret: it signs; every secret in `secret_keys` verifies."""
        return self.secret_keys[-1]

    def to_env(self) -> dict[str, str]:
        """The CRUMB_* variables that rebuild these settings in a worker process."""
        return {
            "CRUMB_ENV": self.env,
            "CRUMB_HOST": self.host,
            "CRUMB_PORT": str(self.port),
            "CRUMB_WORKERS": str(self.workers),
            "CRUMB_SITES": str(self.sites_dir),
            "CRUMB_DATA": str(self.data_dir),
            "CRUMB_DIST": str(self.dist_dir),
            "CRUMB_DB": str(self.db_path),
            "CRUMB_DATABASE_URL": self.database_url,
            "CRUMB_SECRET_KEY": ",".join(self.secret_keys),
            "CRUMB_ADMIN_PASSWORD_HASH": self.admin_password_hash,
            "CRUMB_ADMIN_SESSION_MINUTES": str(self.admin_session_minutes),
            "CRUMB_ADMIN_LOGIN_FAILURES": str(self.admin_login_failures),
            "CRUMB_RATE_LIMIT": str(self.rate_limit_per_minute),
            "CRUMB_DEMO": "1" if self.demo else "0",
        }


def _int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise StartupError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise StartupError(f"{name} must not be negative, got {raw!r}")
    return value


def _demo(raw: str | None, sites_dir: Path) -> bool:
    """CRUMB_DEMO / --demo: 1 serves the demo shop, 0 never; unset, it follows the sites folder
    (on when it holds demo.toml, as a checkout's does)."""
    if raw is None:
        return (sites_dir / "demo.toml").is_file()
    value = raw.strip().lower()
    if value not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
        raise StartupError(f"CRUMB_DEMO must be 1 or 0, got {raw!r}")
    return value in ("1", "true", "yes", "on")


def load_settings(
    overrides: Mapping[str, str | None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings: `overrides` (command-line flags) win over `environ` (CRUMB_*)."""
    env = dict(os.environ if environ is None else environ)
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}

    def pick(key: str) -> str | None:
        if key in flags:
            return flags[key]
        return env.get(_ENV_KEYS[key]) or None

    mode = env.get("CRUMB_ENV", "development").strip().lower() or "development"
    if mode not in ("development", "production"):
        raise StartupError(f"CRUMB_ENV must be 'development' or 'production', got {mode!r}")
    cwd = Path.cwd()
    data_dir = cwd / (pick("data") or "data")
    sites_dir = cwd / (pick("sites") or "sites")
    db, dist = pick("db"), pick("dist")
    keys = tuple(k.strip() for k in env.get("CRUMB_SECRET_KEY", "").split(",") if k.strip())
    settings = Settings(
        env=mode,
        host=pick("host") or Settings.host,
        port=_int("--port", pick("port") or str(Settings.port)),
        workers=max(1, _int("--workers", pick("workers") or "1")),
        sites_dir=sites_dir,
        data_dir=data_dir,
        dist_dir=cwd / dist if dist else data_dir / "dist",
        db_path=cwd / db if db else data_dir / "crumb.sqlite3",
        database_url=pick("database_url") or "",
        secret_keys=keys,
        admin_password_hash=env.get("CRUMB_ADMIN_PASSWORD_HASH", ""),
        admin_session_minutes=max(1, _int("CRUMB_ADMIN_SESSION_MINUTES",
                                          env.get("CRUMB_ADMIN_SESSION_MINUTES", "480"))),
        admin_login_failures=_int("CRUMB_ADMIN_LOGIN_FAILURES", env.get("CRUMB_ADMIN_LOGIN_FAILURES", "5")),
        rate_limit_per_minute=_int("CRUMB_RATE_LIMIT", env.get("CRUMB_RATE_LIMIT", "120")),
        demo=_demo(pick("demo"), sites_dir),
    )
    if settings.port > 65535:
        raise StartupError(f"--port must be between 0 and 65535, got {settings.port}")
    return settings


def ensure_secret(settings: Settings) -> Settings:
    """Return settings with a secret: required in production, generated once in development."""
    if settings.secret_keys:
        if any(len(k) < 16 for k in settings.secret_keys):
            raise StartupError("CRUMB_SECRET_KEY: each secret must be at least 16 characters")
        return settings
    if settings.production:
        raise StartupError(
            "CRUMB_SECRET_KEY is not set: production mode refuses to start without a secret "
            "(set CRUMB_SECRET_KEY to a long random string; several, comma-separated, rotate keys)"
        )
    key_file = settings.data_dir / "secret_key"
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if key_file.exists():
            key = key_file.read_text().strip()
        else:
            key = secrets.token_urlsafe(32)
            key_file.write_text(key + "\n")
            key_file.chmod(0o600)
            print(f"warning: development mode: generated a secret key in {key_file}; "
                  "set CRUMB_SECRET_KEY in production")
    except OSError as exc:
        raise StartupError(f"data folder {settings.data_dir} is not writable: {exc.strerror}") from None
    return replace(settings, secret_keys=(key,))
