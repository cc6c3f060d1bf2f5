"""`crumb init --site ID --origin URL [--lang …]`: a commented starter config in ./sites/.

It asks nothing: every value it needs has a default derived from the flags, and the file it writes
is validated by the same loader the server uses before anything is written. It never overwrites.
"""

from __future__ import annotations

import argparse
import datetime
import json
import tomllib
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError, StartupError

# The starter's own English words (a site owner edits them); other languages get Crumb's
# shipped texts, overridden key by key in [texts.<lang>].
ENGLISH = {
    "title": "Your privacy at {name}",
    "body": "We use cookies to run this site and, if you agree, to remember your preferences, "
            "measure visits and show relevant offers. Change your mind at any time.",
    "accept_all": "Accept all", "reject_all": "Reject all", "customize": "Customize",
    "save": "Save choices", "close": "Close", "preferences_title": "Cookie preferences",
    "preferences_body": "Choose which cookies we may use.", "policy_link": "Privacy policy",
    "placeholder": "This content from {{service}} needs your consent for {{category}}.",
    "placeholder_button": "Allow {{category}}",
    "gpc_notice": "Your browser sends Global Privacy Control: marketing is off.",
    "consent_id": "Consent ID", "consent_date": "Given on", "receipt_link": "Your consent receipt",
    "withdraw": "Withdraw consent", "reopen": "Cookie settings", "always_on": "Always on",
    "services": "Services",
}
CATEGORIES = {
    "necessary": ("Necessary", "What the site needs to work: session, cart, security."),
    "preferences": ("Preferences", "Remembering your settings, such as language and currency."),
    "analytics": ("Analytics", "Counting visits and clicks to improve the site."),
    "marketing": ("Marketing", "Personalised ads and measuring their success."),
}


def register(commands: Any) -> None:
    p = commands.add_parser("init", help="write a commented starter config for a new site",
                            description="Write a commented starter config for a new site into the "
                            "sites folder, asking nothing; refuses to overwrite an existing one.")
    p.add_argument("--site", required=True, help="the site id: lowercase letters, digits, - or _ (shop)")
    p.add_argument("--origin", required=True, action="append",
                   help="the site's origin, https://shop.example (repeatable)")
    p.add_argument("--lang", action="append",
                   help="a language of the banner, en, fr or pt-BR (repeatable or comma-separated; "
                   "the first is the default; default en)")
    p.add_argument("--name", help="the site's name as visitors know it (default: the origin's host)")
    p.add_argument("--contact", help="privacy contact, an email or https:// URL (default: privacy@<host>)")
    p.add_argument("--policy-url", default="/privacy", help="the privacy policy (default /privacy)")
    p.add_argument("--sites", help="site config folder (CRUMB_SITES, default ./sites)")
    p.set_defaults(run=run)


def _q(value: str) -> str:
    """A TOML basic string (JSON's escaping is valid TOML for these texts)."""
    return json.dumps(value, ensure_ascii=False)


def _texts(lang: str, name: str) -> list[str]:
    if lang != "en":
        return [f"[texts.{lang}]",
                f"# Crumb's shipped {lang} texts apply; override any key here, as in [texts.en].", ""]
    lines = ["[texts.en]", "# Your own words: every key is listed in docs/config.md."]
    lines += [f"{key} = {_q(value.format(name=name))}" for key, value in ENGLISH.items()]
    for cid, (title, description) in CATEGORIES.items():
        lines += ["", f"[texts.en.categories.{cid}]", f"title = {_q(title)}",
                  f"description = {_q(description)}"]
    return [*lines, ""]


def starter(site: str, origins: list[str], langs: list[str], name: str, contact: str,
            policy_url: str) -> str:
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    lines = [
        f"# Crumb site config for {name}, written by `crumb init`.",
        "# Every key, its type and default: docs/config.md. The server re-reads this file while",
        "# it runs; `crumb build` prints the <script> tag to paste first in your pages' <head>.",
        "",
        "[site]",
        f"id = {_q(site)}",
        f"name = {_q(name)}",
        f"contact = {_q(contact)}   # where visitors send privacy requests",
        f"origins = [{', '.join(_q(o) for o in origins)}]   # only these pages may record consent",
        f"policy_url = {_q(policy_url)}",
        f"policy_version = {_q(today)}   # change it when the policy changes: everyone is asked again",
        f"default_language = {_q(langs[0])}",
        "lifetime_days = 180   # how long a choice is kept (CNIL: about 6 months)",
        "# api_url = \"https://consent.example\"   # when Crumb runs on another host than the widget's",
        "",
        "# One [[categories]] per purpose; mark tags in your pages with data-category=\"<id>\".",
        "[[categories]]",
        'id = "necessary"',
        "required = true",
        "",
        "[[categories]]",
        'id = "preferences"',
        "",
        "[[categories]]",
        'id = "analytics"',
        'cookies = ["_ga", "_ga_*", "_gid"]   # deleted when refused or withdrawn',
        "",
        "[[categories]]",
        'id = "marketing"',
        "gpc_optout = true   # refused for browsers sending Global Privacy Control",
        'cookies = ["_fbp", "_fbc"]',
        "",
        "  # A service inside a category can be refused on its own:",
        "  # [[categories.services]]",
        '  # id = "video"',
        '  # name = "Product videos"',
        "",
        "[integrations]",
        "consent_mode = false   # true: Google Consent Mode v2 signals",
        "gpc = true",
        "auto_block = true      # hold well-known trackers until consent, even without markup",
        "",
        "[ui]",
        'position = "bottom"',
        "floating_button = true",
        "  # [ui.colors]",
        '  # accent = "#1a5fb4"',
        "",
    ]
    for lang in langs:
        lines += _texts(lang, name)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..settings import load_settings
    from ..sites import parse_site

    folder = load_settings({"sites": args.sites}).sites_dir
    langs = [tag.strip() for value in (args.lang or ["en"]) for tag in value.split(",") if tag.strip()]
    langs = list(dict.fromkeys(langs or ["en"]))
    host = urlsplit(args.origin[0]).hostname or args.site
    name = args.name or host
    contact = args.contact or f"privacy@{host.removeprefix('www.')}"
    text = starter(args.site, args.origin, langs, name, contact, args.policy_url)
    target = folder / f"{args.site}.toml"
    try:
        parse_site(tomllib.loads(text), str(target))
    except ConfigError as exc:
        raise StartupError(f"{exc} (from the flags; nothing was written)") from None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as out:
            out.write(text)
    except FileExistsError:
        raise StartupError(f"{target} already exists; crumb init never overwrites a config") from None
    except OSError as exc:
        raise StartupError(f"cannot write {target}: {exc.strerror}") from None
    print(f"wrote {target}\nnext: `crumb serve`, then `crumb build` prints the <script> tag for "
          f"{args.site}; edit the file to describe your cookies (the server picks changes up).")
    return 0
