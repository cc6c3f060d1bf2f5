"""Admin access: scrypt password hashes, the signed session cookie, CSRF tokens, login throttling.

The admin has one password, stored only as a hash in CRUMB_ADMIN_PASSWORD_HASH (printed by
`python -m server hash-password`). A session is a signed, timed cookie that carries its own CSRF
token, so every worker process can check it without shared state.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from .errors import CrumbError, StartupError
from .settings import Settings

SCHEME = "scrypt"
LOG_N, BLOCK_SIZE, PARALLEL = 15, 8, 1  # 2**15 * 128 * 8 bytes = 32 MiB, ~0.1 s per check here
MIN_PASSWORD = 10
_MAX_MEM = 256 * 1024 * 1024
_HASH = re.compile(r"^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$")
_SESSION_SALT = "crumb.admin.session.v1"
_LOGIN_SALT = "crumb.admin.login.v1"
THROTTLE_WINDOW = 15 * 60  # seconds in which `admin_login_failures` failed logins are allowed


class AuthError(CrumbError):
    """A login or session check failed; `code` says why (bad_password, no_session, tampered...)."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


@dataclass(frozen=True)
class PasswordHash:
    log_n: int
    r: int
    p: int
    salt: bytes
    key: bytes

    def derive(self, password: str) -> bytes:
        return _scrypt(password, self.salt, self.log_n, self.r, self.p, len(self.key))

    def __str__(self) -> str:
        return f"${SCHEME}$ln={self.log_n},r={self.r},p={self.p}${_b64(self.salt)}${_b64(self.key)}"


def _scrypt(password: str, salt: bytes, log_n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2 ** log_n, r=r, p=p,
                          maxmem=_MAX_MEM, dklen=length)


def hash_password(password: str) -> str:
    """The string to put in CRUMB_ADMIN_PASSWORD_HASH: scheme, parameters, salt and key."""
    if len(password) < MIN_PASSWORD:
        raise AuthError("weak_password", f"the password must be at least {MIN_PASSWORD} characters")
    salt = secrets.token_bytes(16)
    key = _scrypt(password, salt, LOG_N, BLOCK_SIZE, PARALLEL, 32)
    return str(PasswordHash(LOG_N, BLOCK_SIZE, PARALLEL, salt, key))


def parse_hash(encoded: str) -> PasswordHash:
    """Read a hash string; StartupError names what is wrong (a plain password is refused)."""
    match = _HASH.match(encoded.strip())
    problem = ("CRUMB_ADMIN_PASSWORD_HASH is not a hash printed by `python -m server hash-password` "
               "(expected $scrypt$ln=..,r=..,p=..$salt$key; never put the plain password there)")
    if not match:
        raise StartupError(problem)
    log_n, r, p = (int(match.group(i)) for i in (1, 2, 3))
    if not (10 <= log_n <= 20 and 1 <= r <= 32 and 1 <= p <= 16) or 128 * r * 2 ** log_n > _MAX_MEM // 2:
        raise StartupError(f"CRUMB_ADMIN_PASSWORD_HASH: scrypt parameters ln={log_n}, r={r}, p={p} "
                           "are out of range (ln 10-20, r 1-32, p 1-16)")
    try:
        salt, key = _unb64(match.group(4)), _unb64(match.group(5))
    except (binascii.Error, ValueError):
        raise StartupError(problem) from None
    if len(salt) < 8 or len(key) < 16:
        raise StartupError("CRUMB_ADMIN_PASSWORD_HASH: salt or key is too short")
    return PasswordHash(log_n, r, p, salt, key)


def check_password(password: str, stored: PasswordHash) -> None:
    """Raise AuthError unless `password` matches (constant-time comparison)."""
    if not hmac.compare_digest(stored.derive(password), stored.key):
        raise AuthError("bad_password", "the password is wrong")


def password_matches(password: str, stored: PasswordHash) -> bool:
    try:
        check_password(password, stored)
    except AuthError:
        return False
    return True


@dataclass(frozen=True)
class Session:
    sid: str
    name: str
    csrf: str
    issued_at: int

    @property
    def actor(self) -> str:
        return f"admin:{self.name}"


class SessionSigner:
    """Signs sessions with the newest secret, verifies with all of them.

    Each session also carries a fingerprint of the password hash: changing the password ends
    every session at once, in every worker.
    """

    def __init__(self, secret_keys: tuple[str, ...], password_hash: str, lifetime: int) -> None:
        self.lifetime = lifetime
        self._sessions = URLSafeTimedSerializer(list(secret_keys), salt=_SESSION_SALT)
        self._login = URLSafeTimedSerializer(list(secret_keys), salt=_LOGIN_SALT)
        self._fingerprint = hashlib.sha256(password_hash.encode()).hexdigest()[:16]
        self._revoked: dict[str, float] = {}

    def new(self, name: str) -> tuple[Session, str]:
        session = Session(secrets.token_urlsafe(16), name, secrets.token_urlsafe(24), int(time.time()))
        raw = self._sessions.dumps({"i": session.sid, "n": name, "c": session.csrf,
                                    "t": session.issued_at, "f": self._fingerprint})
        return session, raw

    def read(self, raw: str | None) -> Session:
        """The session in the cookie, or AuthError (no_session, expired, tampered, revoked)."""
        if not raw:
            raise AuthError("no_session", "log in first")
        try:
            data = self._sessions.loads(raw, max_age=self.lifetime)
        except SignatureExpired:
            raise AuthError("expired", "the session has ended; log in again") from None
        except BadSignature:
            raise AuthError("tampered", "the session cookie's signature does not match") from None
        if not isinstance(data, dict) or not hmac.compare_digest(str(data.get("f", "")), self._fingerprint):
            raise AuthError("tampered", "the session was not issued for the current password")
        session = Session(str(data.get("i", "")), str(data.get("n", "")), str(data.get("c", "")),
                          int(data.get("t", 0)))
        if session.sid in self._revoked:
            raise AuthError("revoked", "this session was logged out")
        return session

    def revoke(self, session: Session) -> None:
        """Forget a logged-out session in this process (the browser also drops the cookie)."""
        now = time.time()
        self._revoked = {k: v for k, v in self._revoked.items() if v > now}
        self._revoked[session.sid] = session.issued_at + self.lifetime

    def login_token(self) -> str:
        """A CSRF token for the login form, signed so the form and its cookie can be matched."""
        return self._login.dumps(secrets.token_urlsafe(24))

    def check_login_token(self, cookie: str | None, form: str | None) -> None:
        if not cookie or not form or not hmac.compare_digest(cookie, form):
            raise AuthError("csrf", "the login form's CSRF token is missing or does not match")
        try:
            self._login.loads(form, max_age=self.lifetime)
        except BadSignature:
            raise AuthError("csrf", "the login form's CSRF token is not valid; reload the form") from None


def check_csrf(session: Session, token: str | None) -> None:
    if not token or not hmac.compare_digest(token, session.csrf):
        raise AuthError("csrf", "the form's CSRF token is missing or does not match this session")


class LoginThrottle:
    """Failed logins per IP hash in a sliding window, in this process only (see README, Admin)."""

    MAX_KEYS = 10_000

    def __init__(self, max_failures: int, window: int) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        seen = self._failures.get(key, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        return seen

    def check(self, key: str) -> None:
        """Raise AuthError("throttled") while `key` has too many recent failures."""
        now = time.time()
        seen = self._recent(key, now)
        if self.max_failures and len(seen) >= self.max_failures:
            wait = max(1, int(seen[0] + self.window - now + 59) // 60)
            raise AuthError("throttled", f"too many failed logins from your address ({len(seen)} in "
                                         f"{self.window // 60} minutes); try again in {wait} minute"
                                         f"{'s' if wait != 1 else ''}")

    def failed(self, key: str) -> None:
        now = time.time()
        seen = self._recent(key, now)
        seen.append(now)
        self._failures[key] = seen
        if len(self._failures) > self.MAX_KEYS:  # drop the oldest keys; memory stays bounded
            for stale in sorted(self._failures, key=lambda k: self._failures[k][-1])[: self.MAX_KEYS // 10]:
                del self._failures[stale]

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)


class AdminAuth:
    """What the admin routes need, built once at start-up: a malformed hash stops the server."""

    def __init__(self, settings: Settings) -> None:
        self.password = parse_hash(settings.admin_password_hash) if settings.admin_password_hash else None
        self.sessions = SessionSigner(settings.secret_keys, settings.admin_password_hash,
                                      settings.admin_session_minutes * 60)
        self.throttle = LoginThrottle(settings.admin_login_failures, THROTTLE_WINDOW)
        self.ip_secret = settings.signing_key
