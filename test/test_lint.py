"""Linters as tests, as ROS 2 packages run ament_flake8 and friends: `make test` (and so CI)
fails on a finding.

- ruff check (ruff.toml): pyflakes, pycodestyle at 99 columns (ROS 2 Python style), import
  order, bugbear, over the whole repository including the launchers in scripts/;
- ruff format --check: the formatting ruff writes;
- mypy (mypy.ini) on world_model_ros/core, the ROS-free layer.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO

BIN = Path(sys.executable).parent


def run(*command: str, timeout_s: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def test_ruff_check_finds_nothing():
    done = run("ruff", "check", "--output-format", "concise", ".")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr


def test_ruff_format_changes_nothing():
    done = run("ruff", "format", "--check", ".")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr


def test_mypy_on_the_core_finds_nothing():
    # The cache lives in build/ (git-ignored): later runs check only what changed.
    done = run("mypy", "--cache-dir", "build/mypy_cache", "world_model_ros/core")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr
