"""Optional streams of a bag beside camera, odometry and commands: camera_info and a bumper.

The loader reads them in its first pass (bag_reader.py); this module turns the messages into what
the rest needs: the camera as a :class:`~world_model_ros.core.data.camera.CameraSpec` (the
checkpoint records it) and the bumper's pressed flags on the sample grid (contact labels,
core/data/labels.py). A bumper may be any message type: ``field`` is a dotted attribute path
whose value is truthy when pressed (std_msgs/Bool ``data``; an integer state; a list of flags,
any of them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .camera import CameraSpec

CAMERA_INFO_TYPES = {"sensor_msgs/msg/CameraInfo"}


class AnyType(set):
    """A type filter that accepts every message type (a bumper can be any type)."""

    def __contains__(self, item: object) -> bool:
        return True


def pressed(msg: Any, field: str) -> bool:
    """Whether a bumper message says pressed: the truth of ``msg.<field>`` (dotted path;
    sequences: any element). Raises ValueError naming the field when it does not exist."""
    value = msg
    for part in field.split("."):
        if not hasattr(value, part):
            raise ValueError(f"bumper message {type(msg).__name__} has no field '{field}'")
        value = getattr(value, part)
    if isinstance(value, (list, tuple, np.ndarray)):
        return bool(np.any(np.asarray(value)))
    return bool(value)


class Extras:
    """Collects camera_info and bumper messages of one bag."""

    def __init__(self, bumper_field: str = "data"):
        self.bumper_field = bumper_field
        self.camera: CameraSpec | None = None
        self._bumper: list[tuple[int, bool, bool]] = []  # (ns, pressed, header-stamped)
        self.bumper_t: np.ndarray | None = None
        self.bumper_v: np.ndarray | None = None

    def add(self, role: str, msg: Any, receive_ns: int, topic: str, report) -> None:
        if role == "camera_info":
            if self.camera is None and int(msg.width) > 0 and int(msg.height) > 0:
                k = np.asarray(msg.k, dtype=np.float64).reshape(-1)
                self.camera = CameraSpec.from_intrinsics(
                    int(msg.width), int(msg.height), float(k[0]), float(k[4])
                )
            return
        try:
            flag = pressed(msg, self.bumper_field)
        except ValueError as error:
            report.skipped[f"bad_bumper:{topic}"] += 1
            if not any(str(error) in p for p in report.problems):
                report.problems.append(f"{topic}: {error}")
            return
        header = getattr(msg, "header", None)
        stamp = 0
        if header is not None:
            stamp = int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)
        self._bumper.append((stamp if stamp > 0 else receive_ns, flag, stamp > 0))

    def finish(self, offset_ns: int) -> "Extras":
        """Unstamped bumper messages get the bag's receive-to-stamp offset (as commands do)."""
        if self._bumper:
            t = np.array([ns if stamped else ns + offset_ns for ns, _, stamped in self._bumper])
            order = np.argsort(t, kind="stable")
            self.bumper_t = t[order].astype(np.int64)
            self.bumper_v = np.array([f for _, f, _ in self._bumper], dtype=bool)[order]
        return self

    def flags_on_grid(self, grid_ns: np.ndarray, dt_s: float) -> np.ndarray | None:
        """Pressed at grid time t: any bumper message in (t - dt, t] said pressed, or the
        newest one before said so (a held press). None without a bumper topic."""
        if self.bumper_t is None or self.bumper_v is None:
            return None
        t, v = self.bumper_t, self.bumper_v
        dt_ns = int(round(dt_s * 1e9))
        pressed_t = t[v]
        lo = np.searchsorted(pressed_t, grid_ns - dt_ns, side="right")
        hi = np.searchsorted(pressed_t, grid_ns, side="right")
        latest = np.searchsorted(t, grid_ns, side="right") - 1
        held = (latest >= 0) & v[np.clip(latest, 0, None)]
        return (hi > lo) | held
