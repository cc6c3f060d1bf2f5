"""Widget builder: one site config + widget sources -> one minified, self-contained script.

Output per site in the dist folder: `<id>.js`, `<id>.js.gz`, `<id>.js.br`, and one
`manifest.json` with sizes, the SRI integrity value and a content hash. Builds are
deterministic: the same inputs give byte-identical files.

The widget sources are minified with calmjs.parse (pure Python): it parses ES5 and renames
every local name. Everything lives inside one function, so all the widget's own names shrink;
property names (`CFG.s`, `'Content-Type'`) are never touched. The price: widget sources must be
ES5 syntax (no arrow functions, let/const, template strings, classes) and must not use
`eval` or `with`; see widget/README.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import brotli
import rcssmin
import zopfli.gzip
from calmjs.parse import es5
from calmjs.parse.exceptions import ECMASyntaxError, ProductionError
from calmjs.parse.unparsers.es5 import minify_print
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape

from . import sites as site_loader
from .errors import BuildError
from .resources import WIDGET_DIR
from .sites import RTL_LANGUAGES, SiteConfig

# Bundled in this order: helpers first, boot last.
SOURCES = ("util.js", "state.js", "blocking.js", "integrations.js", "ui.js", "main.js")
MANIFEST = "manifest.json"
# Stand-ins the minifier leaves alone (undeclared globals), swapped for the site's data after.
_SLOTS = {"CFG": "__crumb_cfg__", "HTML": "__crumb_html__", "CSS": "__crumb_css__"}
_TOOLS = f"calmjs.parse {version('calmjs.parse')} zopfli {version('zopfli')} brotli {version('brotli')}"


@dataclass(frozen=True)
class BuildResult:
    site: str
    raw: int
    gzip: int
    brotli: int
    integrity: str
    hash: str
    file: str
    hashed_file: str


def default_hosts() -> dict[str, tuple[str, ...]]:
    """The shipped map of well-known tracker hosts (widget/trackers.json): category id -> host patterns."""
    data = json.loads((WIDGET_DIR / "trackers.json").read_text(encoding="utf-8"))
    return {cid: tuple(h for hosts in providers.values() for h in hosts) for cid, providers in data.items()}


def _widget_config(site: SiteConfig) -> dict[str, Any]:
    """The compact config object the widget reads as `CFG` (short keys keep the bundle small)."""
    integ = site.integrations
    shipped = default_hosts() if integ.auto_block and integ.default_hosts else {}

    def hosts(own: tuple[str, ...], category: str = "") -> list[str]:
        # Auto-blocking patterns: the site's own, then the shipped ones for the same category id.
        # The widget matches a pattern's host and its subdomains, so a leading "*." is redundant.
        return list(dict.fromkeys(p.removeprefix("*.") for p in own + shipped.get(category, ()))) \
            if integ.auto_block else []

    return {
        "s": site.id,
        "v": site.policy_version,
        "n": site.cookie_name,
        "l": site.lifetime_days,
        "a": site.api_url.rstrip("/"),
        "dl": site.default_language,
        "g": 1 if integ.gpc else 0,
        "cm": {k: list(v) for k, v in integ.consent_mode_map.items()} if integ.consent_mode else 0,
        "w": integ.wait_for_update,
        "c": [
            {
                "id": c.id,
                "k": list(c.cookies),
                "h": hosts(c.hosts, c.id),
                "sv": [{"id": s.id, "k": list(s.cookies), "h": hosts(s.hosts)}
                       for s in c.services],
                # Flags only when set (the widget tests them for truth): r required, d default on,
                # o refused under Global Privacy Control.
                **{k: 1 for k, on in (("r", c.required), ("d", c.default), ("o", c.gpc_optout)) if on},
            }
            for c in site.categories
        ],
        "ui": {"fab": 1 if site.ui.floating_button else 0, "modal": 1 if site.ui.modal else 0},
        # Placeholder texts (p: the notice, b: its button); titles and names come from the markup.
        "t": {lang: {"p": t["placeholder"], "b": t["placeholder_button"]} for lang, t in site.texts.items()},
    }


def _templates(widget_dir: Path) -> Environment:
    return Environment(
        loader=FileSystemLoader(str(widget_dir)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
    )


def _markup(site: SiteConfig, widget_dir: Path) -> dict[str, str]:
    out = {}
    try:
        template = _templates(widget_dir).get_template("banner.html.j2")
        for lang, texts in sorted(site.texts.items()):
            html = template.render(
                t=texts, lang=lang, categories=site.categories, ui=site.ui,
                policy_url=site.policy_url,
                dir="rtl" if lang.split("-")[0] in RTL_LANGUAGES else "ltr",
            )
            out[lang] = " ".join(line.strip() for line in html.splitlines() if line.strip())
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        raise BuildError(f"widget/banner.html.j2{f' line {line}' if line else ''}: {exc}") from None
    return out


def _css(site: SiteConfig, widget_dir: Path) -> str:
    props = "".join(f"--crumb-{name}:{value};" for name, value in sorted(site.ui.colors.items()))
    css = (widget_dir / "banner.css").read_text(encoding="utf-8")
    if props:
        css += ":host{" + props + "}"
    return str(rcssmin.cssmin(css))


def _json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    # Safe inside a <script> element and in any JS string context.
    return text.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _sources(widget_dir: Path) -> tuple[tuple[str, str], ...]:
    out = []
    for name in SOURCES:
        path = widget_dir / "src" / name
        try:
            out.append((name, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise BuildError(f"widget source {path}: cannot read it ({exc})") from None
    return tuple(out)


def _syntax_error(sources: tuple[tuple[str, str], ...], exc: Exception) -> BuildError:
    """Name the widget source file and line the minifier cannot parse."""
    for name, text in sources:
        try:
            es5(text)
        except (ECMASyntaxError, ProductionError) as one:
            return BuildError(f"widget/src/{name}: {one} (widget sources must be ES5: no arrow "
                              "functions, let/const, template strings or classes; see widget/README.md)")
    return BuildError(f"widget sources do not parse as one script: {exc}")


@lru_cache(maxsize=4)
def minify(sources: tuple[tuple[str, str], ...]) -> str:
    """The widget sources as one minified IIFE with CFG, HTML and CSS still as slots."""
    slots = ",".join(f"{name}={slot}" for name, slot in _SLOTS.items())
    program = "(function(){'use strict';var " + slots + ";\n" + \
        "\n".join(text for _, text in sources) + "\n})();"
    try:
        tree = es5(program)
    except (ECMASyntaxError, ProductionError) as exc:
        raise _syntax_error(sources, exc) from None
    return str(minify_print(tree, obfuscate=True, obfuscate_globals=False, drop_semi=True)) + ";\n"


def bundle(site: SiteConfig, widget_dir: Path = WIDGET_DIR) -> bytes:
    """The minified widget for one site, as bytes."""
    js = minify(_sources(widget_dir))
    values = {
        "CFG": _json(_widget_config(site)),
        "HTML": _json(_markup(site, widget_dir)),
        "CSS": _json(_css(site, widget_dir)),
    }
    for name, slot in _SLOTS.items():
        if js.count(slot) != 1:
            raise BuildError(f"widget sources must not use the name {slot}")
        js = js.replace(slot, values[name])
    return js.encode("utf-8")


def _gzip(data: bytes) -> bytes:
    """Zopfli: a standard gzip stream about 5% smaller than gzip -9, worth its ~1 s per build
    because the file is compressed once and served many times (mtime 0: deterministic)."""
    return bytes(zopfli.gzip.compress(data))


def _brotli(data: bytes) -> bytes:
    return bytes(brotli.compress(data, quality=11))


def inputs_fingerprint(site: SiteConfig, widget_dir: Path = WIDGET_DIR) -> str:
    """Hash of everything a build reads: rebuild when it changes."""
    h = hashlib.sha256(_TOOLS.encode())
    h.update(Path(site.source).read_bytes() if site.source else repr(site).encode())
    for path in sorted(widget_dir.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(widget_dir).as_posix().encode())
            h.update(path.read_bytes())
    for module in (__file__, site_loader.__file__):  # the builder and the loader's defaults
        h.update(Path(module).read_bytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class _Built:
    result: BuildResult
    files: dict[str, bytes]


def _build(site: SiteConfig, widget_dir: Path) -> _Built:
    data = bundle(site, widget_dir)
    gz, br = _gzip(data), _brotli(data)
    content_hash = hashlib.sha256(data).hexdigest()[:12]
    result = BuildResult(
        site=site.id,
        raw=len(data),
        gzip=len(gz),
        brotli=len(br),
        integrity="sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode(),
        hash=content_hash,
        file=f"{site.id}.js",
        hashed_file=f"{site.id}.{content_hash}.js",
    )
    return _Built(result, {f"{site.id}.js": data, f"{site.id}.js.gz": gz, f"{site.id}.js.br": br})


def _write(out_dir: Path, name: str, data: bytes) -> None:
    """Replace a file atomically: a server reading the folder never sees half a widget."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = out_dir / f".{name}.{os.getpid()}.tmp"  # workers may build the same file at once
        tmp.write_bytes(data)
        tmp.replace(out_dir / name)
    except OSError as exc:
        raise BuildError(f"cannot write {out_dir / name}: {exc.strerror}") from None


def budget_warning(site: SiteConfig, result: BuildResult) -> str | None:
    """The warning for a widget over its site's gzip budget, or None.

    A budget is a target, never a failure: an over-budget widget still builds and is served.
    """
    if result.gzip <= site.size_budget:
        return None
    return (f"site {site.id!r}: widget is {result.gzip:,} bytes gzip, over its budget of "
            f"{site.size_budget:,} bytes (site.size_budget in {site.source or 'the config'}); "
            "it is built and served all the same")


def build_site(site: SiteConfig, out_dir: Path, widget_dir: Path = WIDGET_DIR) -> BuildResult:
    """Build one site's widget into `out_dir` (over its size budget too: see budget_warning)."""
    built = _build(site, widget_dir)
    for name, data in built.files.items():
        _write(out_dir, name, data)
    return built.result


def read_manifest(out_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _up_to_date(entry: Any, fingerprint: str, out_dir: Path) -> BuildResult | None:
    fields = BuildResult.__dataclass_fields__
    if not isinstance(entry, dict) or entry.get("inputs") != fingerprint or \
            not all(k in entry for k in fields):
        return None
    result = BuildResult(**{k: entry[k] for k in fields})
    if not all((out_dir / f"{result.file}{ext}").is_file() for ext in ("", ".gz", ".br")):
        return None
    return result


def build_all(sites: dict[str, SiteConfig], out_dir: Path, widget_dir: Path = WIDGET_DIR,
              only_changed: bool = False) -> list[BuildResult]:
    """Build the given sites and update the manifest; with only_changed, skip up-to-date ones.

    Every site is built in memory first: when one fails (a bad source, a full disk) nothing is
    written, so the folder never holds a widget that its manifest does not describe.
    """
    manifest = read_manifest(out_dir)
    results, pending = [], []
    for site_id, site in sorted(sites.items()):
        fingerprint = inputs_fingerprint(site, widget_dir)
        current = _up_to_date(manifest.get(site_id), fingerprint, out_dir) if only_changed else None
        if current is not None:
            results.append(current)
            continue
        built = _build(site, widget_dir)
        pending.append(built)
        manifest[site_id] = {**asdict(built.result), "inputs": fingerprint}
        results.append(built.result)
    for built in pending:
        for name, data in built.files.items():
            _write(out_dir, name, data)
    if pending or not (out_dir / MANIFEST).exists():
        _write(out_dir, MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return results


def embed_snippet(result: BuildResult, base_url: str = "http://127.0.0.1:8000") -> str:
    return (f'<script src="{base_url}/widget/{result.hashed_file}" '
            f'integrity="{result.integrity}" crossorigin="anonymous"></script>')
