"""Shared test harness: an isolated ROS 2 domain per test run and nodes started as processes.

Every test run gets its own ROS_DOMAIN_ID and discovery stays on this machine, so parallel
runs (and other robots on the network) never see each other. Nodes under test are started by
their console scripts, exactly as a user starts them, and talked to over Fast DDS.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

# Before rclpy is imported anywhere in this process.
os.environ["ROS_DOMAIN_ID"] = os.environ.get("WMR_TEST_DOMAIN_ID", str(1 + os.getpid() % 200))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("HOME", "/tmp")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ["RCUTILS_COLORIZED_OUTPUT"] = "0"
os.environ["PYTHONUNBUFFERED"] = "1"


def wait_until(
    condition: Callable[[], bool],
    timeout_s: float,
    spin: Callable[[float], None] | None = None,
    what: str = "condition",
) -> None:
    """Spin (or poll) until ``condition()`` holds; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.1f} s waiting for {what}")
        if spin is not None:
            spin(0.02)
        else:
            time.sleep(0.02)


class NodeProcess:
    """A node started from its console script, its output captured to a file for assertions."""

    def __init__(
        self, executable: str, args: list[str], log_path: Path, env: dict[str, str] | None = None
    ):
        self.log_path = log_path
        self._log = open(log_path, "wb")
        command = [str(VENV_BIN / executable), *args]
        self.process = subprocess.Popen(
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=str(REPO),
            start_new_session=True,
        )

    def output(self) -> str:
        if not self._log.closed:  # also readable after stop(), for the failure message
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 10.0) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self._log.close()
        return self.process.returncode


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    """Factory: ``start_node("world_model_node", "--ros-args", "-p", "x:=1")``; stopped after the
    test."""
    started: list[NodeProcess] = []

    def start(executable: str, *args: str, env: dict[str, str] | None = None) -> NodeProcess:
        node = NodeProcess(
            executable, list(args), tmp_path / f"{executable}-{len(started)}.log", env
        )
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()


@pytest.fixture
def ros() -> Iterator[Any]:
    """A plain rclpy node in this process for publishing inputs and collecting outputs."""
    import rclpy
    from ros_harness import RosTestNode

    context = rclpy.Context()
    rclpy.init(context=context)
    node = RosTestNode(context)
    try:
        yield node
    finally:
        node.destroy()
        rclpy.shutdown(context=context)
