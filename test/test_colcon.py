"""A real colcon build: the package in a temporary workspace, the bootstrapped venv as underlay.

As a ROS 2 user would: source the underlay's setup.bash, `colcon build`, source the workspace's
install/setup.bash, start an installed executable. colcon-core, colcon-ros, colcon-cmake and
colcon-bash come from PyPI (requirements.txt); ament_cmake and rosidl from the ROS 2 wheels.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, wait_until

pytestmark = pytest.mark.slow

VENV = Path(sys.prefix)
# Not part of the package's source: what the bootstrap, tests and runs leave in the checkout.
TOP_LEVEL_OUTPUTS = {".git", ".venv", "build", "install", "log", "runs", "data", "out"}


def not_source(folder: str, names: list[str]) -> set[str]:
    ignored = {n for n in names if n == "__pycache__" or n.endswith(".pyc")}
    if Path(folder) == REPO:
        ignored |= TOP_LEVEL_OUTPUTS & set(names)
    return ignored


def underlay_free_env() -> dict[str, str]:
    """This environment without the venv: the workspace must get it from setup.bash."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in ("AMENT_PREFIX_PATH", "CMAKE_PREFIX_PATH", "PYTHONPATH", "COLCON_PREFIX_PATH")
    }
    path = [p for p in env.get("PATH", "/usr/bin:/bin").split(":") if Path(p) != VENV / "bin"]
    env["PATH"] = ":".join(path)
    env["MAKEFLAGS"] = "-j2"
    return env


def sourced_env(script: Path, env: dict[str, str], cwd: Path) -> dict[str, str]:
    done = subprocess.run(
        ["bash", "-c", f'source "{script}" >/dev/null && env -0'],
        env=env,
        cwd=cwd,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    pairs = (item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
    return dict(pairs)


def test_colcon_builds_the_package_on_the_venv_and_its_executable_starts(tmp_path):
    workspace = tmp_path / "ws"
    shutil.copytree(REPO, workspace / "src" / "world_model_ros", ignore=not_source)
    underlay = sourced_env(VENV / "setup.bash", underlay_free_env(), workspace)
    assert str(VENV) in underlay["AMENT_PREFIX_PATH"].split(":")

    build = subprocess.run(
        [
            "colcon",
            "build",
            "--event-handlers",
            "console_direct+",
            "--cmake-args",
            f"-DPython3_EXECUTABLE={VENV / 'bin' / 'python'}",
            "-DBUILD_TESTING=OFF",
        ],
        env=underlay,
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert build.returncode == 0, (build.stdout + build.stderr)[-6000:]
    install = workspace / "install"
    overlay = sourced_env(install / "setup.bash", underlay, workspace)

    # The overlay's package wins: its share/, its generated messages, its sources.
    check = subprocess.run(
        [
            "python",
            "-c",
            "from ament_index_python.packages import get_package_prefix as p\n"
            "import world_model_ros.msg as m, world_model_ros.nodes.qos as q\n"
            "print(p('world_model_ros')); print(m.__file__); print(q.__file__)",
        ],
        env=overlay,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
    prefix, msg_file, qos_file = check.stdout.split()
    assert Path(prefix) == install / "world_model_ros"
    assert Path(msg_file).is_relative_to(install) and Path(qos_file).is_relative_to(install)
    share = install / "world_model_ros" / "share" / "world_model_ros"
    for name in ("package.xml", "launch/world_model.launch.py", "config/world_model.yaml"):
        assert (share / name).is_file(), name

    log = tmp_path / "node.log"
    with open(log, "wb") as out:
        node = subprocess.Popen(
            [str(install / "world_model_ros/lib/world_model_ros/world_model_node")]
            + ["--ros-args", "-p", "model:=kinematic"],
            env=overlay,
            cwd="/",
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until(
                lambda: "model kinematic on cpu" in log.read_text() or node.poll() is not None,
                timeout_s=120,
                what="the installed world_model_node to come up",
            )
            assert node.poll() is None, log.read_text()
        finally:
            node.send_signal(signal.SIGINT)
            node.wait(30)
    assert node.returncode == 0, log.read_text()
