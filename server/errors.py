"""Typed errors: one base class, a shallow hierarchy, messages that name the problem."""

from __future__ import annotations


class CrumbError(Exception):
    """Base class for every error Crumb raises on purpose."""


class ConfigError(CrumbError):
    """A site config or a setting is wrong: names the file, the key path and what was expected."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


class StartupError(CrumbError):
    """The server cannot start (port in use, unwritable folder, missing secret)."""


class BuildError(CrumbError):
    """A widget build failed (for example over its size budget)."""


class ApiError(CrumbError):
    """An HTTP-facing error: rendered as JSON {"error": code, "detail": text}."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        super().__init__(f"{status} {code}: {detail}")


class TokenError(CrumbError):
    """A consent token could not be trusted; `code` is no_consent, tampered, expired or wrong_site."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}")
