"""Consent domain: validate a visitor's choice, sign and read consent tokens, hash IPs."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.serializer import Serializer

from .errors import ApiError, TokenError
from .sites import SiteConfig

METHODS = ("accept_all", "reject_all", "custom")
_TOKEN_SALT = "crumb.consent.v1"
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$")


@dataclass(frozen=True)
class Choice:
    categories: dict[str, bool]
    services: dict[str, bool]
    policy_version: str
    language: str
    method: str
    gpc: bool


@dataclass(frozen=True)
class Token:
    consent_id: str
    site: str
    categories: dict[str, bool]
    services: dict[str, bool]
    policy_version: str
    issued_at: int
    method: str
    gpc: bool


class _KeyCachingSigner(TimestampSigner):
    """itsdangerous derives the HMAC key from the secret and salt on every sign and verify; the
    derived key never changes, so derive it once per secret (the consent POST's hot path)."""

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        cache: dict[str | bytes | None, bytes] = self.__dict__.setdefault("_derived", {})
        if secret_key not in cache:
            cache[secret_key] = super().derive_key(secret_key)
        return cache[secret_key]


class _ReadableSerializer(URLSafeTimedSerializer):
    """URL-safe timed tokens whose payload is never zlib-compressed, so the widget can read it."""

    default_signer = _KeyCachingSigner

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))

    def make_signer(self, salt: str | bytes | None = None) -> TimestampSigner:
        """One signer per salt, kept (signers hold no per-call state), so its keys stay derived."""
        cache: dict[str | bytes | None, Any] = self.__dict__.setdefault("_signers", {})
        if salt not in cache:
            cache[salt] = super().make_signer(salt)
        return cache[salt]


class TokenSigner:
    """Signs with the newest secret, verifies with all of them (key rotation)."""

    def __init__(self, secret_keys: tuple[str, ...]) -> None:
        # itsdangerous signs with the LAST key and tries every key when reading, which matches
        # Settings.secret_keys (CRUMB_SECRET_KEY="old,new": the newest comes last).
        self._serializer = _ReadableSerializer(list(secret_keys), salt=_TOKEN_SALT)

    def sign(self, token: Token) -> str:
        payload: dict[str, Any] = {
            "s": token.site,
            "i": token.consent_id,
            "c": {k: int(v) for k, v in token.categories.items()},
            "v": token.policy_version,
            "t": token.issued_at,
            "m": token.method,
            "g": int(token.gpc),
        }
        if token.services:
            payload["x"] = {k: int(v) for k, v in token.services.items()}
        return self._serializer.dumps(payload)

    def read(self, raw: str | None, site: SiteConfig) -> Token:
        """The token's content, or TokenError (no_consent, tampered, expired, wrong_site)."""
        if not raw:
            raise TokenError("no_consent", "no consent token was sent")
        try:
            data = self._serializer.loads(raw, max_age=site.lifetime_seconds)
        except SignatureExpired:
            raise TokenError("expired", f"the consent is older than {site.lifetime_days} days") from None
        except BadSignature:
            raise TokenError("tampered", "the consent token's signature does not match") from None
        if not isinstance(data, dict) or data.get("s") != site.id:
            raise TokenError("wrong_site", f"the consent token was not issued for site {site.id!r}")
        try:
            return Token(
                consent_id=str(data["i"]), site=data["s"],
                categories={k: bool(v) for k, v in data["c"].items()},
                services={k: bool(v) for k, v in data.get("x", {}).items()},
                policy_version=str(data["v"]), issued_at=int(data["t"]), method=str(data["m"]),
                gpc=bool(data.get("g", 0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise TokenError("tampered", "the consent token's content is not a consent") from None


def new_consent_id() -> str:
    return secrets.token_urlsafe(12)


@functools.lru_cache(maxsize=8)
def _ip_mac(secret: str) -> hmac.HMAC:
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def ip_hash(secret: str, ip: str) -> str:
    """Keyed, truncated hash of an IP address: the raw IP is never stored."""
    mac = _ip_mac(secret).copy()  # the keyed state is set up once per secret
    mac.update(ip.encode())
    return mac.hexdigest()[:16]


def _fail(field: str, problem: str) -> ApiError:
    return ApiError(422, "invalid_field", f"{field}: {problem}")


@dataclass(frozen=True)
class _Rules:
    """What a site accepts in a choice, as sets: validation runs on every consent POST."""

    categories: tuple[str, ...]
    known: frozenset[str]
    required: tuple[str, ...]
    services: frozenset[str]


_KNOWN_FIELDS = frozenset({"categories", "services", "policy_version", "language", "method", "gpc"})
_RULES: dict[int, tuple[SiteConfig, _Rules]] = {}


def _rules(site: SiteConfig) -> _Rules:
    cached = _RULES.get(id(site))
    if cached is not None and cached[0] is site:  # the site is kept alive, so its id is not reused
        return cached[1]
    rules = _Rules(categories=site.category_ids, known=frozenset(site.category_ids),
                   required=site.required_ids,
                   services=frozenset(s for c in site.category_ids for s in site.service_ids(c)))
    _RULES[id(site)] = (site, rules)
    return rules


def parse_choice(data: Any, site: SiteConfig) -> Choice:
    """Validate a consent POST body against the site's categories; ApiError 422 names the field."""
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_field", "body: expected a JSON object")
    rules = _rules(site)
    for key in data.keys() - _KNOWN_FIELDS:
        raise _fail(key, f"unknown field (expected {', '.join(sorted(_KNOWN_FIELDS))})")
    cats = data.get("categories")
    if not isinstance(cats, dict):
        raise _fail("categories", "expected an object of category id -> true/false")
    for cid, value in cats.items():
        if cid not in rules.known:
            raise _fail(f"categories.{cid}", f"unknown category for site {site.id!r}")
        if value is not True and value is not False:
            raise _fail(f"categories.{cid}", "expected true or false")
    if len(cats) != len(rules.known):
        missing = next(cid for cid in rules.categories if cid not in cats)
        raise _fail(f"categories.{missing}", "missing: every category needs a true/false answer")
    for cid in rules.required:
        if cats[cid] is not True:
            raise _fail(f"categories.{cid}", "is required and cannot be refused")
    services = data.get("services")
    if services is None:
        services = {}
    if not isinstance(services, dict):
        raise _fail("services", "expected an object of service id -> true/false")
    for sid, value in services.items():
        if sid not in rules.services:
            raise _fail(f"services.{sid}", f"unknown service for site {site.id!r}")
        if value is not True and value is not False:
            raise _fail(f"services.{sid}", "expected true or false")
    version = data.get("policy_version")
    if not isinstance(version, str) or not version:
        raise _fail("policy_version", "expected the policy version string")
    if version != site.policy_version:
        raise _fail("policy_version",
                    f"{version!r} is not the current policy version {site.policy_version!r}")
    language = data.get("language", site.default_language)
    if not isinstance(language, str) or not _LANGUAGE.fullmatch(language):
        raise _fail("language", "expected a language tag like en or de")
    method = data.get("method")
    if method not in METHODS:
        raise _fail("method", f"expected one of {', '.join(METHODS)}")
    gpc = data.get("gpc", False)
    if gpc is not True and gpc is not False:
        raise _fail("gpc", "expected true or false")
    return Choice(categories=cats, services=services, policy_version=version,
                  language=language, method=method, gpc=gpc)


def now() -> float:
    return time.time()
