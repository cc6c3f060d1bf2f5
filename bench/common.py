"""Shared bench helpers: result rows, processes we start (and always stop), wrk, the demo site."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
CACHE = BENCH / ".cache"
SECRET = "bench-secret-key-0123456789abcdef"
LOOPBACK = "127.0.0.1"


class BenchError(Exception):
    """A part cannot run here; the message says what to install or fix."""


@dataclass
class Row:
    """One line of the table: Crumb's figure beside its baseline, measured in the same run."""

    measure: str
    crumb: str
    baseline: str
    ratio: float | None
    target: str
    met: bool | None
    note: str = ""


@dataclass
class PartResult:
    part: str
    title: str
    rows: list[Row] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    when: str = ""
    seconds: float = 0.0

    def command(self, argv: list[str] | str, env: dict[str, str] | None = None) -> None:
        text = argv if isinstance(argv, str) else shlex.join(argv)
        if env:
            text = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " " + text
        if text not in self.commands:
            self.commands.append(text)


def ratio_row(measure: str, crumb: float, base: float, fmt: str, target: str,
              at_most: float | None = None, at_least: float | None = None, note: str = "") -> Row:
    """A row whose ratio is crumb / base, checked against `at_most` or `at_least` when given."""
    ratio = crumb / base if base else None
    met: bool | None = None
    if ratio is not None and at_most is not None:
        met = ratio <= at_most
    if ratio is not None and at_least is not None:
        met = ratio >= at_least
    return Row(measure, fmt.format(crumb), fmt.format(base), ratio, target, met, note)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def temp_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"crumb-bench-{prefix}-"))


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# --- processes: each one started in its own group and ended by that id --------------------

def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
    """End the process group we started (uvicorn workers included); SIGKILL after `grace` s."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # stray children of a killed leader


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{url} exited before answering: {tail(log)}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise BenchError(f"{url} did not answer within {timeout:.0f} s: {tail(log)}")


def tail(log: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def crumb_env(data: Path, **extra: str) -> dict[str, str]:
    """Environment of a bench server: fresh data folder, fixed secret, no rate limit."""
    return {
        **os.environ,
        "CRUMB_DATA": str(data),
        "CRUMB_DIST": str(data / "dist"),
        "CRUMB_SECRET_KEY": SECRET,
        "CRUMB_RATE_LIMIT": "0",
        "CRUMB_DATABASE_URL": "",  # SQLite unless a part asks for PostgreSQL
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


SHOWN_ENV = ("CRUMB_DATA", "CRUMB_RATE_LIMIT", "CRUMB_DATABASE_URL", "CRUMB_SITES")


def shown(env: dict[str, str]) -> dict[str, str]:
    """The variables worth printing in a command line (not the secret)."""
    return {k: env[k] for k in SHOWN_ENV if env.get(k)}


def sites_env(data: Path, result: PartResult) -> dict[str, str]:
    """Serve a copy of sites/ in `data` with size_budget lifted: the server refuses to start with
    a widget over its budget, and the widget may grow while a long run goes on; the size part
    reports the budget, the other parts measure the same widget whatever its size."""
    if os.environ.get("CRUMB_SITES"):
        return {}
    copy = data / "sites"
    copy.mkdir(exist_ok=True)
    for toml in (ROOT / "sites").glob("*.toml"):
        text = re.sub(r"(?m)^size_budget\s*=.*\n", "", toml.read_text(encoding="utf-8"))
        text = re.sub(r"(?m)^\[site\]\s*$", "[site]\nsize_budget = 1000000", text, count=1)
        (copy / toml.name).write_text(text, encoding="utf-8")
    note = ("servers run on a copy of sites/ with only size_budget lifted (the size part reports "
            "the budget; a widget growing mid-run must not stop the server)")
    if note not in result.notes:
        result.notes.append(note)
    return {"CRUMB_SITES": str(copy)}


@contextlib.contextmanager
def crumb_server(data: Path, port: int, result: PartResult, args: tuple[str, ...] = (),
                 **extra_env: str) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m server` on `port` with data in `data`; stopped (group SIGTERM) on exit."""
    env = crumb_env(data, **sites_env(data, result), **extra_env)
    argv = [sys.executable, "-m", "server", "--host", LOOPBACK, "--port", str(port), *args]
    result.command(argv, shown(env))
    proc = start(argv, env, data / "server.log")
    try:
        wait_ready(f"http://{LOOPBACK}:{port}/healthz", proc, data / "server.log")
        yield proc
    finally:
        stop(proc)


@contextlib.contextmanager
def bare_server(port: int, log: Path, result: PartResult,
                file: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """The bare Starlette hello-world under the same uvicorn settings as `python -m server`."""
    argv = [sys.executable, str(BENCH / "bare_app.py"), str(port), *([str(file)] if file else [])]
    result.command(argv)
    proc = start(argv, dict(os.environ), log)
    try:
        wait_ready(f"http://{LOOPBACK}:{port}/", proc, log)
        yield proc
    finally:
        stop(proc)


# --- wrk ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    status_errors: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def need_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        if os.geteuid() == 0 and shutil.which("apt-get"):
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            path = shutil.which("wrk")
        if path is None:
            raise BenchError("wrk is not installed: run `apt-get update && apt-get install -y wrk`")
    return path


def wrk(url: str, script: Path, args: list[str], result: PartResult | None,
        threads: int = 2, connections: int = 50, seconds: float = 8.0) -> WrkResult:
    """Run wrk with a Lua script whose done() prints one `BENCH {json}` line."""
    argv = [need_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
            "-s", str(script.relative_to(ROOT)), url, "--", *args]
    if result is not None:
        result.command(argv)
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH "):
            data: dict[str, Any] = json.loads(line[6:])
            return WrkResult(
                requests=data["requests"], seconds=data["duration_us"] / 1e6,
                status_errors=data["status"],
                socket_errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
                p50_ms=data["p50_us"] / 1000, p99_ms=data["p99_us"] / 1000)
    raise BenchError(f"wrk printed no result (exit {out.returncode}): {out.stderr.strip()[-300:]}")


# --- the demo site --------------------------------------------------------------------------

def demo_consent_body(policy_version: str) -> str:
    """A valid consent POST body for the demo site."""
    return json.dumps({
        "categories": {"necessary": True, "preferences": False, "analytics": True, "marketing": False},
        "policy_version": policy_version, "method": "custom", "language": "en",
    }, separators=(",", ":"))


def load_demo_site() -> Any:
    from server.sites import load_sites

    return load_sites(ROOT / "sites")["demo"]
