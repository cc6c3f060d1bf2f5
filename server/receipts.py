"""Consent receipts: the visitor's own proof of what they chose, built from the consent log.

The fields follow the Kantara Initiative Consent Receipt Specification v1.1 (names in
snake_case) and the consent record of its successor ISO/IEC TS 27560:2023; Crumb adds the
hash-chained event history. Mapping (receipt field → Kantara CR v1.1 → ISO/IEC TS 27560):

    consent_id          consentReceiptID            consent record identifier
    pii_principal_id    piiPrincipalId              PII principal (pseudonymous: the consent id)
    controller.name     piiControllers.piiController  PII controller
    controller.contact  piiControllers.contact/email  controller contact
    controller.policy_url  policyUrl                privacy notice (location)
    policy_version      —                           privacy notice version
    language            language                    notice language
    collection_method   collectionMethod            how consent was collected (banner action)
    consent_timestamp   consentTimestamp            time of the first "given" event
    purposes[]          services[].purposes[]       purposes, each with its consent state
      .consent_type     consentType                 explicit consent / not needed (necessary)
      .services[]       services[].service          processing by named services
    status, expires_at  purposes[].termination      consent state and validity / expiry
    gpc                 —                           Global Privacy Control signal seen
    history[]           —                           consent events (given, updated, withdrawn,
                                                    erased) with payload and chain hashes
    jurisdiction, sensitive PII, third-party disclosure: not recorded by Crumb, left out.
"""

from __future__ import annotations

import time
from typing import Any

from .consent import Token
from .sites import SiteConfig
from .storage import StoredEvent

RECEIPT_VERSION = "crumb-receipt-1"
COLLECTION = "web consent banner (Crumb widget)"


def iso(ts: float) -> str:
    """UTC time to the second, e.g. 2026-11-25T09:40:44Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def history_item(item: StoredEvent) -> dict[str, Any]:
    e = item.event
    entry: dict[str, Any] = {
        "event": e.kind, "at": iso(e.created_at), "seq": item.seq, "position": item.pos,
        "method": e.method, "categories": e.categories, "services": e.services,
        "policy_version": e.policy_version, "gpc": e.gpc, "personal_data_erased": item.erased,
        "payload_hash": item.payload_hash, "chain": item.chain,
    }
    if e.actor:
        entry["actor"] = e.actor
    return entry


def build_receipt(site: SiteConfig, token: Token, history: list[StoredEvent], now: float) -> dict[str, Any]:
    """The receipt for `token`: its current state is the latest choice in the log (the token's
    own content when the log no longer holds the consent id, e.g. after a purge)."""
    choices = [s for s in history if s.event.kind != "erased"]
    latest = choices[-1].event if choices else None
    categories = latest.categories if latest else token.categories
    services = latest.services if latest else token.services
    method = latest.method if latest else token.method
    given = next((s.event.created_at for s in history if s.event.kind == "given"), float(token.issued_at))
    updated = latest.created_at if latest else float(token.issued_at)
    language = latest.language if latest else site.default_language
    texts = site.texts.get(language) or site.texts[site.default_language]
    status = "withdrawn" if latest and latest.kind == "withdrawn" else "active"
    purposes = []
    for cat in site.categories:
        granted = bool(categories.get(cat.id, cat.required))
        title = texts["categories"].get(cat.id, {})
        purposes.append({
            "category": cat.id,
            "title": title.get("title", cat.id),
            "description": title.get("description", ""),
            "required": cat.required,
            "consent_type": "not needed (strictly necessary)" if cat.required else "explicit opt-in",
            "state": "granted" if granted else "refused",
            "services": [{"id": s.id, "name": s.name,
                          "state": "granted" if services.get(s.id, granted) else "refused"}
                         for s in cat.services],
        })
    return {
        "receipt_version": RECEIPT_VERSION,
        "standards": ["Kantara Consent Receipt v1.1", "ISO/IEC TS 27560:2023"],
        "consent_id": token.consent_id,
        "pii_principal_id": token.consent_id,
        "site": site.id,
        "controller": {"name": site.name, "contact": site.contact, "policy_url": site.policy_url},
        "policy_version": latest.policy_version if latest else token.policy_version,
        "language": language,
        "collection_method": f"{COLLECTION}: {method}",
        "method": method,
        "gpc": latest.gpc if latest else token.gpc,
        "status": status,
        "consent_timestamp": iso(given),
        "updated_at": iso(updated),
        "expires_at": iso(token.issued_at + site.lifetime_seconds),
        "issued_at": iso(now),
        "purposes": purposes,
        "history": [history_item(s) for s in history],
    }
