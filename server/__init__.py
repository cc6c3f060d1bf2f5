"""Crumb: self-hosted cookie consent (widget builder, consent API, proof-of-consent log)."""
