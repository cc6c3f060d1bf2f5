"""Packaging: the widget sources and the demo site's config travel inside the wheel.

A checkout keeps them at the top level (`widget/`, `sites/demo.toml`, where build.py, the tests
and the README point); the wheel gets copies under `server/widget/` and `server/demo_site/`, which
server/resources.py looks for first. Everything else is declared in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLED = {"widget": "server/widget", "sites/demo.toml": "server/demo_site/demo.toml"}


class BuildPyWithBundledFiles(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads the checkout itself
            return
        for source, target in BUNDLED.items():
            src, dst = Path(source), Path(self.build_lib) / target
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)


setup(cmdclass={"build_py": BuildPyWithBundledFiles})
