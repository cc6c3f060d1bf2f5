"""Site configs: `sites/<id>.toml` validated into frozen dataclasses.

The same loader serves the server and build.py. Every problem raises ConfigError naming the
file, the key path and what was expected; nothing here ever shows a traceback to a site owner.
"""

from __future__ import annotations

import datetime
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import SplitResult, urlsplit

from .errors import ConfigError

T = TypeVar("T")

CONSENT_MODE_SIGNALS = (
    "ad_storage",
    "ad_user_data",
    "ad_personalization",
    "analytics_storage",
    "functionality_storage",
    "personalization_storage",
    "security_storage",
)
DEFAULT_CONSENT_MODE_MAP = {
    "analytics": ("analytics_storage",),
    "marketing": ("ad_storage", "ad_user_data", "ad_personalization"),
    "preferences": ("functionality_storage", "personalization_storage"),
}
TEXT_KEYS = (
    "title", "body", "accept_all", "reject_all", "customize", "save", "close",
    "preferences_title", "preferences_body", "policy_link", "placeholder", "placeholder_button",
    "gpc_notice", "consent_id", "consent_date", "receipt_link", "withdraw", "reopen",
    "always_on", "services",
)
# Placeholders each text may use, filled in by the widget; any other {name} is a typo.
PLACEHOLDERS = {"placeholder": ("service", "category"), "placeholder_button": ("service", "category")}
POSITIONS = ("bottom", "top", "center", "bottom-left", "bottom-right")
CORNERS = ("bottom-left", "bottom-right")
RTL_LANGUAGES = ("ar", "fa", "he", "ur", "yi", "ps", "dv", "ku", "sd", "ug")

_ID = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_COOKIE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_COOKIE_PATTERN = re.compile(r"^[A-Za-z0-9_.\-*]{1,128}$")
_HOST_PATTERN = re.compile(r"^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*(/[A-Za-z0-9_.\-/]*)?$")
_CSS_VALUE = re.compile(r"^[#A-Za-z0-9 ().,%-]{1,64}$")
_CSS_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_HOST = re.compile(r"^([a-z0-9-]+(\.[a-z0-9-]+)*|[0-9a-f.]*:[0-9a-f:.]*)$")
_EMAIL = re.compile(r"^[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+$")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    cookies: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Category:
    id: str
    required: bool = False
    default: bool = False
    gpc_optout: bool = False
    cookies: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    services: tuple[Service, ...] = ()


@dataclass(frozen=True)
class Integrations:
    consent_mode: bool = False
    consent_mode_map: dict[str, tuple[str, ...]] = field(default_factory=dict)
    wait_for_update: int = 500
    gpc: bool = True
    auto_block: bool = True
    default_hosts: bool = True


@dataclass(frozen=True)
class UI:
    position: str = "bottom"
    floating_button: bool = True
    floating_corner: str = "bottom-left"
    modal: bool = False
    colors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SiteConfig:
    id: str
    name: str
    contact: str
    origins: tuple[str, ...]
    policy_url: str
    policy_version: str
    default_language: str
    categories: tuple[Category, ...]
    texts: dict[str, dict[str, Any]]
    lifetime_days: int = 180
    cookie_name: str = "crumb_consent"
    size_budget: int = 7500
    api_url: str = ""
    integrations: Integrations = field(default_factory=Integrations)
    ui: UI = field(default_factory=UI)
    source: str = ""

    @property
    def category_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.categories)

    @property
    def required_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.categories if c.required)

    def category(self, category_id: str) -> Category | None:
        return next((c for c in self.categories if c.id == category_id), None)

    def service_ids(self, category_id: str) -> tuple[str, ...]:
        cat = self.category(category_id)
        return tuple(s.id for s in cat.services) if cat else ()

    @property
    def lifetime_seconds(self) -> int:
        return self.lifetime_days * 86400


class _Reader:
    """Typed access to one TOML table that remembers its key path and rejects unknown keys."""

    def __init__(self, source: str, path: str, table: Any) -> None:
        self.source = source
        self.path = path
        if not isinstance(table, dict):
            raise ConfigError(source, path or "(top level)", f"expected a table, got {_kind(table)}")
        self.table: dict[str, Any] = table
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.source, self.key(name), problem)

    def get(self, name: str, kind: type[T], default: T | None = None) -> T:
        self.seen.add(name)
        if name not in self.table:
            if default is None:
                raise self.error(name, f"is required ({_type_name(kind)})")
            return default
        value = self.table[name]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            raise self.error(name, f"expected {_type_name(kind)}, got {_kind(value)}")
        return value

    def text(self, name: str, default: str | None = None, pattern: re.Pattern[str] | None = None,
             what: str = "") -> str:
        value = self.get(name, str, default)
        if pattern is not None and not pattern.match(value):
            raise self.error(name, f"expected {what or pattern.pattern}, got {value!r}")
        if default is None and not value.strip():
            raise self.error(name, "must not be empty")
        return value

    def strings(self, name: str, pattern: re.Pattern[str] | None = None, what: str = "",
                required: bool = False) -> tuple[str, ...]:
        values = self.get(name, list, None if required else [])
        out = []
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise self.error(f"{name}[{i}]", f"expected a string, got {_kind(value)}")
            if pattern is not None and not pattern.match(value):
                raise self.error(f"{name}[{i}]", f"expected {what}, got {value!r}")
            out.append(value)
        return tuple(out)

    def sub(self, name: str, required: bool = False) -> _Reader:
        self.seen.add(name)
        if name not in self.table:
            if required:
                raise self.error(name, "is required (a table)")
            return _Reader(self.source, self.key(name), {})
        return _Reader(self.source, self.key(name), self.table[name])

    def tables(self, name: str, required: bool = False) -> list[_Reader]:
        if isinstance(self.table.get(name), dict):
            key = self.key(name)
            raise self.error(name, f"expected a list of tables: write [[{key}]], not [{key}]")
        values = self.get(name, list, None if required else [])
        return [_Reader(self.source, f"{self.key(name)}[{i}]", v) for i, v in enumerate(values)]

    def done(self) -> None:
        unknown = sorted(set(self.table) - self.seen)
        if unknown:
            raise self.error(unknown[0], "unknown key (check the spelling in docs/config.md)")


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "a whole number", float: "a number", str: "a string",
            list: "a list", dict: "a table", datetime.date: "a date", datetime.datetime: "a date-time",
            datetime.time: "a time"}.get(type(value), type(value).__name__)


def _type_name(kind: type) -> str:
    return {bool: "a boolean", int: "a whole number", str: "a string", list: "a list",
            dict: "a table"}.get(kind, kind.__name__)


def _http_url(value: str) -> SplitResult | None:
    """The parts of an absolute http(s) URL with a plausible host and port, else None."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    ok = parts.scheme in ("http", "https") and parts.hostname and _HOST.match(parts.hostname) \
        and not parts.username
    return parts if ok else None


def _origin(reader: _Reader, index: int, value: str) -> str:
    parts = _http_url(value)
    if parts is None or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise reader.error(
            f"origins[{index}]",
            f"expected an origin like https://shop.example (scheme, host, optional port), got {value!r}",
        )
    # The form browsers send in the Origin header: lowercase, no default port.
    host = parts.netloc.lower()
    default_port = {"http": ":80", "https": ":443"}[parts.scheme]
    return f"{parts.scheme}://{host.removesuffix(default_port)}"


def _url(reader: _Reader, name: str, relative: bool, default: str | None = None) -> str:
    """An http(s) URL, or (when `relative`) a path on the site like /privacy."""
    value = reader.text(name, default)
    if not value:
        return value
    if relative and value.startswith("/") and not value.startswith("//") and value.isprintable() \
            and " " not in value:
        return value
    parts = _http_url(value)
    if parts is not None and (relative or not (parts.query or parts.fragment)):
        return value
    expected = "an https:// URL or a path on the site like /privacy" if relative else \
        "an https:// URL without ?query or #fragment"
    raise reader.error(name, f"expected {expected}, got {value!r}")


def _contact(reader: _Reader) -> str:
    value = reader.text("contact").strip()
    if _EMAIL.match(value.removeprefix("mailto:")) or _http_url(value):
        return value
    raise reader.error("contact", f"expected an email address or an https:// URL, got {value!r}")


def _policy_version(reader: _Reader) -> str:
    raw = reader.table.get("policy_version")
    if isinstance(raw, datetime.date) and not isinstance(raw, datetime.datetime):
        reader.seen.add("policy_version")
        return raw.isoformat()  # policy_version = 2026-11-01 without quotes is a TOML date
    return reader.text("policy_version")


def _service(reader: _Reader) -> Service:
    svc = Service(
        id=reader.text("id", pattern=_ID, what="an id of lowercase letters, digits, - or _"),
        name=reader.text("name"),
        cookies=reader.strings("cookies", _COOKIE_PATTERN, "a cookie name or pattern like _ga_*"),
        hosts=reader.strings("hosts", _HOST_PATTERN, "a host pattern like *.example.com"),
    )
    reader.done()
    return svc


def _category(reader: _Reader) -> Category:
    cid = reader.text("id", pattern=_ID, what="an id of lowercase letters, digits, - or _")
    required = reader.get("required", bool, False)
    services = tuple(_service(r) for r in reader.tables("services"))
    _no_duplicates(reader, "services", [s.id for s in services])
    cat = Category(
        id=cid,
        required=required,
        default=reader.get("default", bool, required),
        gpc_optout=reader.get("gpc_optout", bool, False),
        cookies=reader.strings("cookies", _COOKIE_PATTERN, "a cookie name or pattern like _ga_*"),
        hosts=reader.strings("hosts", _HOST_PATTERN, "a host pattern like *.example.com"),
        services=services,
    )
    if required and not cat.default:
        raise reader.error("default", "a required category is always on: default must be true")
    if required and cat.gpc_optout:
        raise reader.error("gpc_optout", "a required category is always on: it cannot be switched off by GPC")
    reader.done()
    return cat


def _no_duplicates(reader: _Reader, name: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i, value in enumerate(ids):
        if value in seen:
            raise reader.error(f"{name}[{i}].id", f"duplicate id {value!r}")
        seen.add(value)


def _no_duplicate_services(reader: _Reader, categories: tuple[Category, ...]) -> None:
    """Service ids are page-wide (data-service="..."): one id may live in one category only."""
    owner: dict[str, str] = {}
    for ci, cat in enumerate(categories):
        for si, svc in enumerate(cat.services):
            if svc.id in owner:
                raise reader.error(f"categories[{ci}].services[{si}].id",
                                   f"duplicate id {svc.id!r}: already a service of category "
                                   f"{owner[svc.id]!r}")
            owner[svc.id] = cat.id


def _placeholders(reader: _Reader, key: str, value: str) -> None:
    allowed = PLACEHOLDERS.get(key, ())
    for name in _PLACEHOLDER.findall(value):
        if name not in allowed:
            known = ", ".join("{" + a + "}" for a in allowed) or "none"
            raise reader.error(key, f"unknown placeholder {{{name}}} (this text may use: {known})")


def _texts(reader: _Reader, categories: tuple[Category, ...]) -> dict[str, dict[str, Any]]:
    texts: dict[str, dict[str, Any]] = {}
    declared = {c.id for c in categories}
    for lang in reader.table:
        if not _LANG.match(lang):
            raise reader.error(lang, "expected a language tag like en, de or zh-CN")
        lr = reader.sub(lang)
        flat: dict[str, Any] = {}
        for key in lr.table:
            if key == "categories":
                continue
            if key not in TEXT_KEYS:
                raise lr.error(key, f"unknown text (known texts: {', '.join(TEXT_KEYS)})")
            flat[key] = lr.text(key)
            if key in PLACEHOLDERS:
                _placeholders(lr, key, flat[key])
        cats: dict[str, dict[str, str]] = {}
        cr = lr.sub("categories")
        for cid in cr.table:
            if cid not in declared:
                raise cr.error(cid, "names a category that is not declared in [[categories]]")
            one = cr.sub(cid)
            cats[cid] = {"title": one.text("title"), "description": one.text("description")}
            one.done()
        cr.done()
        lr.done()
        flat["categories"] = cats
        texts[lang] = flat
    reader.done()
    if not texts:
        raise ConfigError(reader.source, reader.path, "at least one language is required, like [texts.en]")
    _same_texts_everywhere(reader, texts, declared)
    return texts


def _same_texts_everywhere(reader: _Reader, texts: dict[str, dict[str, Any]],
                           declared: set[str]) -> None:
    all_keys = set().union(*({k for k in t if k != "categories"} for t in texts.values()))
    all_cats = set().union(*(set(t["categories"]) for t in texts.values())) | declared
    for lang, t in sorted(texts.items()):
        for key in sorted(all_keys - set(t)):
            other = next(lg for lg, o in sorted(texts.items()) if key in o)
            raise ConfigError(reader.source, f"texts.{lang}.{key}",
                              f"missing: language {other!r} has this text, {lang!r} must too")
        for key in TEXT_KEYS:
            if key not in t:
                raise ConfigError(reader.source, f"texts.{lang}.{key}", "missing: required text")
        for cid in sorted(all_cats - set(t["categories"])):
            raise ConfigError(reader.source, f"texts.{lang}.categories.{cid}",
                              "missing: every category needs a title and description in every language")


def _integrations(reader: _Reader, declared: set[str]) -> Integrations:
    mapping: dict[str, tuple[str, ...]] = {}
    mr = reader.sub("consent_mode_map")
    raw_map = mr.table or {k: list(v) for k, v in DEFAULT_CONSENT_MODE_MAP.items() if k in declared}
    owner: dict[str, str] = {}
    for cid in raw_map:
        if cid not in declared:
            raise mr.error(cid, "names a category that is not declared in [[categories]]")
        signals = _Reader(reader.source, mr.path, raw_map).strings(
            cid, re.compile("^(" + "|".join(CONSENT_MODE_SIGNALS) + ")$"),
            "one of " + ", ".join(CONSENT_MODE_SIGNALS))
        for i, signal in enumerate(signals):
            if signal in owner:
                raise mr.error(f"{cid}[{i}]", f"signal {signal!r} is already mapped to category "
                                              f"{owner[signal]!r}: one category per signal")
            owner[signal] = cid
        mapping[cid] = signals
    wait = reader.get("wait_for_update", int, 500)
    if not 0 <= wait <= 10000:
        raise reader.error("wait_for_update", f"expected milliseconds from 0 to 10000, got {wait}")
    integ = Integrations(
        consent_mode=reader.get("consent_mode", bool, False),
        consent_mode_map=mapping,
        wait_for_update=wait,
        gpc=reader.get("gpc", bool, True),
        auto_block=reader.get("auto_block", bool, True),
        default_hosts=reader.get("default_hosts", bool, True),
    )
    reader.done()
    return integ


def _ui(reader: _Reader) -> UI:
    colors: dict[str, str] = {}
    cr = reader.sub("colors")
    for name in cr.table:
        if not _CSS_NAME.match(name):
            raise cr.error(name, "expected a colour name like bg, fg, accent")
        colors[name] = cr.text(name, pattern=_CSS_VALUE, what="a CSS colour like #1a1a1a")
    cr.done()
    ui = UI(
        position=reader.text("position", "bottom"),
        floating_button=reader.get("floating_button", bool, True),
        floating_corner=reader.text("floating_corner", "bottom-left"),
        modal=reader.get("modal", bool, False),
        colors=colors,
    )
    if ui.position not in POSITIONS:
        raise reader.error("position", f"expected one of {', '.join(POSITIONS)}, got {ui.position!r}")
    if ui.floating_corner not in CORNERS:
        raise reader.error("floating_corner",
                           f"expected one of {', '.join(CORNERS)}, got {ui.floating_corner!r}")
    reader.done()
    return ui


def parse_site(data: dict[str, Any], source: str) -> SiteConfig:
    """Validate one parsed TOML document into a SiteConfig."""
    top = _Reader(source, "", data)
    site = top.sub("site", required=True)
    categories = tuple(_category(r) for r in top.tables("categories", required=True))
    if not categories:
        raise top.error("categories", "at least one category is required")
    _no_duplicates(top, "categories", [c.id for c in categories])
    _no_duplicate_services(top, categories)
    declared = {c.id for c in categories}
    texts = _texts(top.sub("texts", required=True), categories)
    integrations = _integrations(top.sub("integrations"), declared)
    ui = _ui(top.sub("ui"))
    top.done()

    origins_raw = site.strings("origins", required=True)
    if not origins_raw:
        raise site.error("origins", "at least one origin is required")
    origins = tuple(_origin(site, i, o) for i, o in enumerate(origins_raw))
    for i, origin in enumerate(origins):
        if origin in origins[:i]:
            raise site.error(f"origins[{i}]", f"duplicate origin {origin!r}")
    lifetime = site.get("lifetime_days", int, 180)
    if not 1 <= lifetime <= 3650:
        raise site.error("lifetime_days", f"expected days from 1 to 3650, got {lifetime}")
    budget = site.get("size_budget", int, 7500)
    if budget <= 0:
        raise site.error("size_budget", f"expected a positive number of bytes, got {budget}")
    config = SiteConfig(
        id=site.text("id", pattern=_ID, what="an id of lowercase letters, digits, - or _"),
        name=site.text("name"),
        contact=_contact(site),
        origins=origins,
        policy_url=_url(site, "policy_url", relative=True),
        policy_version=_policy_version(site),
        default_language=site.text("default_language", pattern=_LANG, what="a language tag"),
        categories=categories,
        texts=texts,
        lifetime_days=lifetime,
        cookie_name=site.text("cookie_name", "crumb_consent", _COOKIE_NAME, "a cookie name"),
        size_budget=budget,
        api_url=_url(site, "api_url", relative=False, default=""),
        integrations=integrations,
        ui=ui,
        source=source,
    )
    site.done()
    if config.default_language not in texts:
        raise ConfigError(source, "site.default_language",
                          f"{config.default_language!r} has no [texts.{config.default_language}] table")
    return config


def load_site(path: Path) -> SiteConfig:
    """Read and validate one site config file."""
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read the file ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(source, "", "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", f"not valid TOML: {exc}") from None
    config = parse_site(data, source)
    if config.id != path.stem:
        raise ConfigError(source, "site.id", f"must match the file name {path.stem!r}, got {config.id!r}")
    return config


def load_sites(folder: Path) -> dict[str, SiteConfig]:
    """Load every `*.toml` in a folder; an empty or missing folder is an error."""
    if not folder.is_dir():
        raise ConfigError(str(folder), "", "sites folder does not exist")
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise ConfigError(str(folder), "", "no site configs (*.toml) found")
    return {cfg.id: cfg for cfg in (load_site(f) for f in files)}
