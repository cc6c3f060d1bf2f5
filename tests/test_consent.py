"""Consent domain: signed tokens the widget can read but nobody can forge, and choice validation."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from server.consent import Token, TokenSigner, ip_hash, parse_choice
from server.errors import ApiError, TokenError
from server.sites import SiteConfig, load_site

from .conftest import ROOT

OLD, NEW = "old-secret-key-0123456789", "new-secret-key-0123456789"


@pytest.fixture(scope="module")
def demo() -> SiteConfig:
    return load_site(ROOT / "sites" / "demo.toml")


def token(**fields: Any) -> Token:
    values: dict[str, Any] = {
        "consent_id": "abc", "site": "demo", "categories": {"necessary": True, "analytics": False},
        "services": {}, "policy_version": "2026-11-01", "issued_at": 1_790_000_000, "method": "custom",
        "gpc": True, **fields}
    return Token(**values)


def test_token_payload_is_the_compact_json_the_widget_reads(demo: SiteConfig) -> None:
    signed = TokenSigner((NEW,)).sign(token(services={"pixel": False}))
    part = signed.split(".")[0]
    data = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    assert data == {"s": "demo", "i": "abc", "c": {"necessary": 1, "analytics": 0}, "v": "2026-11-01",
                    "t": 1_790_000_000, "m": "custom", "g": 1, "x": {"pixel": 0}}
    assert len(signed) < 200


def test_a_signed_token_reads_back(demo: SiteConfig) -> None:
    original = token(issued_at=int(time.time()))
    assert TokenSigner((NEW,)).read(TokenSigner((NEW,)).sign(original), demo) == original


def test_rotation_newest_key_signs_and_every_listed_key_verifies(demo: SiteConfig) -> None:
    t = token(issued_at=int(time.time()))
    rotated = TokenSigner((OLD, NEW))
    assert rotated.read(TokenSigner((OLD,)).sign(t), demo) == t
    assert TokenSigner((NEW,)).read(rotated.sign(t), demo) == t
    with pytest.raises(TokenError) as caught:
        TokenSigner((OLD,)).read(rotated.sign(t), demo)
    assert caught.value.code == "tampered"


@pytest.mark.parametrize(("raw", "code"), [(None, "no_consent"), ("", "no_consent"),
                                           ("a.b.c", "tampered"), ("x" * 300, "tampered")])
def test_unusable_tokens_raise_with_a_code(demo: SiteConfig, raw: str | None, code: str) -> None:
    with pytest.raises(TokenError) as caught:
        TokenSigner((NEW,)).read(raw, demo)
    assert caught.value.code == code and caught.value.detail


def test_a_token_without_the_server_secret_is_useless(demo: SiteConfig) -> None:
    forged = TokenSigner(("attacker-key-0123456789",)).sign(token(issued_at=int(time.time())))
    with pytest.raises(TokenError, match="tampered"):
        TokenSigner((NEW,)).read(forged, demo)


def test_a_token_of_another_site_is_refused(demo: SiteConfig) -> None:
    other = TokenSigner((NEW,)).sign(token(site="shop", issued_at=int(time.time())))
    with pytest.raises(TokenError) as caught:
        TokenSigner((NEW,)).read(other, demo)
    assert caught.value.code == "wrong_site"


def test_ip_hash_is_keyed_truncated_and_never_the_ip() -> None:
    h = ip_hash(NEW, "203.0.113.7")
    assert len(h) == 16 and "203" not in h
    assert h == ip_hash(NEW, "203.0.113.7") != ip_hash(OLD, "203.0.113.7")


GOOD = {"categories": {"necessary": True, "preferences": False, "analytics": True, "marketing": False},
        "policy_version": "2026-11-01", "method": "custom"}


def test_a_valid_choice_parses_with_defaults(demo: SiteConfig) -> None:
    choice = parse_choice(GOOD, demo)
    assert choice.categories == GOOD["categories"] and choice.services == {}
    assert (choice.language, choice.gpc) == ("en", False)


@pytest.mark.parametrize(("change", "field"), [
    ({"categories": {**GOOD["categories"], "necessary": False}}, "categories.necessary"),
    ({"services": {"pixel": None}}, "services.pixel"),
    ({"language": "english please"}, "language"),
    ({"language": "en\n"}, "language"),
    ({"language": "en\x00"}, "language"),
    ({"method": None}, "method"),
])
def test_invalid_choice_raises_422_naming_the_field(demo: SiteConfig, change: dict[str, Any],
                                                    field: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_choice({**GOOD, **change}, demo)
    assert (caught.value.status, caught.value.code) == (422, "invalid_field")
    assert caught.value.detail.startswith(f"{field}:")

