"""Widget builder: one site config + widget sources -> one minified, self-contained script.

Output per site in the dist folder: `<id>.js`, `<id>.js.gz`, `<id>.js.br`, and one
`manifest.json` with sizes, the SRI integrity value and a content hash. Builds are
deterministic: the same inputs give byte-identical files.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import brotli
import rcssmin
import rjsmin
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .errors import BuildError
from .sites import RTL_LANGUAGES, SiteConfig

WIDGET_DIR = Path(__file__).resolve().parent.parent / "widget"
# Bundled in this order: helpers first, boot last.
SOURCES = ("util.js", "state.js", "blocking.js", "integrations.js", "ui.js", "main.js")
MANIFEST = "manifest.json"


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


def _widget_config(site: SiteConfig) -> dict[str, Any]:
    """The compact config object the widget reads as `CFG` (short keys keep the bundle small)."""
    integ = site.integrations
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
                "r": 1 if c.required else 0,
                "d": 1 if c.default else 0,
                "o": 1 if c.gpc_optout else 0,
                "k": list(c.cookies),
                "h": list(c.hosts),
                "sv": [{"id": s.id, "n": s.name, "k": list(s.cookies), "h": list(s.hosts)}
                       for s in c.services],
            }
            for c in site.categories
        ],
        "ui": {"fab": 1 if site.ui.floating_button else 0, "modal": 1 if site.ui.modal else 0},
        "t": {lang: {"placeholder": t["placeholder"], "placeholder_button": t["placeholder_button"],
                     "cats": {cid: ct["title"] for cid, ct in t["categories"].items()}}
              for lang, t in site.texts.items()},
    }


def _templates(widget_dir: Path) -> Environment:
    return Environment(
        loader=FileSystemLoader(str(widget_dir)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
    )


def _markup(site: SiteConfig, widget_dir: Path) -> dict[str, str]:
    template = _templates(widget_dir).get_template("banner.html.j2")
    out = {}
    for lang, texts in sorted(site.texts.items()):
        html = template.render(
            t=texts, lang=lang, categories=site.categories, ui=site.ui,
            policy_url=site.policy_url,
            dir="rtl" if lang.split("-")[0] in RTL_LANGUAGES else "ltr",
        )
        out[lang] = " ".join(line.strip() for line in html.splitlines() if line.strip())
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


def bundle(site: SiteConfig, widget_dir: Path = WIDGET_DIR) -> bytes:
    """The minified widget for one site, as bytes."""
    source = "\n".join((widget_dir / "src" / name).read_text(encoding="utf-8") for name in SOURCES)
    head = (
        f"var CFG={_json(_widget_config(site))};"
        f"var HTML={_json(_markup(site, widget_dir))};"
        f"var CSS={_json(_css(site, widget_dir))};"
    )
    js = "(function(){'use strict';" + head + rjsmin.jsmin(source) + "})();\n"
    return js.encode("utf-8")


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def _brotli(data: bytes) -> bytes:
    return bytes(brotli.compress(data, quality=11))


def inputs_fingerprint(site: SiteConfig, widget_dir: Path = WIDGET_DIR) -> str:
    """Hash of everything a build reads: rebuild when it changes."""
    h = hashlib.sha256()
    h.update(Path(site.source).read_bytes() if site.source else repr(site).encode())
    for path in sorted(widget_dir.rglob("*")):
        if path.is_file():
            h.update(path.name.encode())
            h.update(path.read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


def build_site(site: SiteConfig, out_dir: Path, widget_dir: Path = WIDGET_DIR) -> BuildResult:
    """Build one site's widget into `out_dir`, failing over the site's size budget."""
    data = bundle(site, widget_dir)
    gz, br = _gzip(data), _brotli(data)
    if len(gz) > site.size_budget:
        raise BuildError(
            f"site {site.id!r}: widget is {len(gz):,} bytes gzip, over its budget of "
            f"{site.size_budget:,} bytes (site.size_budget in {site.source or 'the config'})"
        )
    digest = hashlib.sha384(data).digest()
    content_hash = hashlib.sha256(data).hexdigest()[:12]
    out_dir.mkdir(parents=True, exist_ok=True)
    for suffix, payload in ((".js", data), (".js.gz", gz), (".js.br", br)):
        (out_dir / f"{site.id}{suffix}").write_bytes(payload)
    return BuildResult(
        site=site.id,
        raw=len(data),
        gzip=len(gz),
        brotli=len(br),
        integrity="sha384-" + base64.b64encode(digest).decode(),
        hash=content_hash,
        file=f"{site.id}.js",
        hashed_file=f"{site.id}.{content_hash}.js",
    )


def read_manifest(out_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def build_all(sites: dict[str, SiteConfig], out_dir: Path, widget_dir: Path = WIDGET_DIR,
              only_changed: bool = False) -> list[BuildResult]:
    """Build the given sites and update the manifest; with only_changed, skip up-to-date ones."""
    manifest = read_manifest(out_dir)
    results = []
    for site_id, site in sorted(sites.items()):
        fingerprint = inputs_fingerprint(site, widget_dir)
        entry = manifest.get(site_id)
        if only_changed and entry and entry.get("inputs") == fingerprint and \
                (out_dir / f"{site_id}.js").exists():
            results.append(BuildResult(**{k: entry[k] for k in BuildResult.__dataclass_fields__}))
            continue
        result = build_site(site, out_dir, widget_dir)
        manifest[site_id] = {**asdict(result), "inputs": fingerprint}
        results.append(result)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return results


def embed_snippet(result: BuildResult, base_url: str = "http://127.0.0.1:8000") -> str:
    return (f'<script src="{base_url}/widget/{result.hashed_file}" '
            f'integrity="{result.integrity}" crossorigin="anonymous"></script>')
