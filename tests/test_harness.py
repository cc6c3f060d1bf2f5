"""The browser test harness fails loudly, never skips, when Chromium is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_browser_tests_fail_with_install_hint_when_chromium_is_missing() -> None:
    env = {**os.environ, "CRUMB_CHROMIUM": "/nonexistent/chromium"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
         "tests/browser/test_demo_consent.py::test_reject_all_runs_no_tracker"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "skipped" not in result.stdout.splitlines()[-1]
    assert "apt-get install -y chromium" in result.stdout
