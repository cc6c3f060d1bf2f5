"""Admin access primitives: password hashes, sessions, CSRF tokens and the login throttle."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer

from server.auth import (
    AuthError,
    LoginThrottle,
    SessionSigner,
    check_csrf,
    check_password,
    hash_password,
    parse_hash,
    password_matches,
)
from server.errors import StartupError

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-key-0123456789abcdef"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def encoded() -> str:
    return hash_password(PASSWORD)


def test_hash_names_scheme_parameters_and_salt_and_never_the_password(encoded: str) -> None:
    assert encoded.startswith("$scrypt$ln=15,r=8,p=1$")
    assert PASSWORD not in encoded
    assert hash_password(PASSWORD) != encoded  # a fresh salt each time


def test_right_password_matches_and_wrong_one_is_refused(encoded: str) -> None:
    stored = parse_hash(encoded)
    assert password_matches(PASSWORD, stored)
    assert not password_matches(PASSWORD + "!", stored)
    with pytest.raises(AuthError) as info:
        check_password("", stored)
    assert info.value.code == "bad_password"


def test_short_password_is_refused() -> None:
    with pytest.raises(AuthError) as info:
        hash_password("short")
    assert info.value.code == "weak_password"
    assert "at least 10 characters" in info.value.detail


@pytest.mark.parametrize("bad", [
    "correct horse battery staple",  # a plain password
    "$scrypt$ln=15,r=8,p=1$c2FsdHNhbHQ",  # no key
    "$bcrypt$ln=15,r=8,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
    "$scrypt$ln=40,r=8,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",  # absurd cost
])
def test_malformed_hash_is_refused_with_a_message_naming_the_variable(bad: str) -> None:
    with pytest.raises(StartupError, match="CRUMB_ADMIN_PASSWORD_HASH"):
        parse_hash(bad)


def _signer(encoded: str, lifetime: int = 3600) -> SessionSigner:
    return SessionSigner((SECRET,), encoded, lifetime)


def test_session_round_trips_and_carries_its_own_csrf_token(encoded: str) -> None:
    signer = _signer(encoded)
    session, raw = signer.new("alice")
    read = signer.read(raw)
    assert read == session
    assert read.actor == "admin:alice"
    check_csrf(read, session.csrf)
    with pytest.raises(AuthError) as info:
        check_csrf(read, "")
    assert info.value.code == "csrf"
    with pytest.raises(AuthError):
        check_csrf(read, session.csrf[:-1] + "x")


@pytest.mark.parametrize("mangle", [
    lambda raw: raw[:-2] + ("AA" if not raw.endswith("AA") else "BB"),
    lambda raw: "x" + raw,
    lambda raw: raw.split(".")[0],
])
def test_tampered_session_is_refused(encoded: str, mangle) -> None:  # type: ignore[no-untyped-def]
    signer = _signer(encoded)
    _, raw = signer.new("alice")
    with pytest.raises(AuthError) as info:
        signer.read(mangle(raw))
    assert info.value.code == "tampered"


def test_session_signed_with_another_secret_is_refused(encoded: str) -> None:
    forged = URLSafeTimedSerializer("another-secret-0123456789", salt="crumb.admin.session.v1").dumps(
        {"i": "x", "n": "mallory", "c": "token", "t": int(time.time())})
    with pytest.raises(AuthError) as info:
        _signer(encoded).read(forged)
    assert info.value.code == "tampered"


def test_changing_the_password_ends_every_session(encoded: str) -> None:
    _, raw = _signer(encoded).new("alice")
    with pytest.raises(AuthError) as info:
        _signer(hash_password("another long password")).read(raw)
    assert info.value.code == "tampered"


def test_session_expires_after_its_lifetime(encoded: str) -> None:
    signer = _signer(encoded, lifetime=1)
    _, raw = signer.new("alice")
    time.sleep(2.1)  # itsdangerous timestamps have one-second resolution
    with pytest.raises(AuthError) as info:
        signer.read(raw)
    assert info.value.code == "expired"


def test_logged_out_session_is_refused(encoded: str) -> None:
    signer = _signer(encoded)
    session, raw = signer.new("alice")
    signer.revoke(session)
    with pytest.raises(AuthError) as info:
        signer.read(raw)
    assert info.value.code == "revoked"


def test_login_form_token_must_match_its_cookie(encoded: str) -> None:
    signer = _signer(encoded)
    token = signer.login_token()
    signer.check_login_token(token, token)
    for cookie, form in ((token, ""), ("", token), (token, signer.login_token()), ("abc", "abc")):
        with pytest.raises(AuthError) as info:
            signer.check_login_token(cookie, form)
        assert info.value.code == "csrf"


def test_throttle_blocks_an_address_after_too_many_failures_and_names_the_wait() -> None:
    throttle = LoginThrottle(max_failures=3, window=900)
    for _ in range(3):
        throttle.check("ip-a")
        throttle.failed("ip-a")
    with pytest.raises(AuthError) as info:
        throttle.check("ip-a")
    assert info.value.code == "throttled"
    assert "3 in 15 minutes" in info.value.detail and "try again in 15 minutes" in info.value.detail
    throttle.check("ip-b")  # another address is not affected


def test_throttle_forgets_failures_after_a_success_and_outside_the_window() -> None:
    throttle = LoginThrottle(max_failures=2, window=1)
    throttle.failed("ip")
    throttle.succeeded("ip")
    throttle.failed("ip")
    throttle.check("ip")
    throttle.failed("ip")
    with pytest.raises(AuthError):
        throttle.check("ip")
    time.sleep(1.1)
    throttle.check("ip")


def _cli(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_hash_password_command_prints_a_hash_that_verifies() -> None:
    result = _cli("hash-password", "--stdin", stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    printed = result.stdout.strip()
    assert password_matches(PASSWORD, parse_hash(printed))
    assert "CRUMB_ADMIN_PASSWORD_HASH" in result.stderr


def test_hash_password_command_refuses_a_short_password_in_one_line() -> None:
    result = _cli("hash-password", "--stdin", stdin="short\n")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == "error: the password must be at least 10 characters"
