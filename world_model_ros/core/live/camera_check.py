"""The running twin's camera check: warn once when the live camera is not the trained one.

A checkpoint records the camera it was trained with (core/model/checkpoint_robot.py). The node
hands this check the first frame's size and encoding, and camera_info's focal lengths when it
has them; :meth:`CameraCheck.check` returns the one-sentence warning of
core/data/camera.camera_mismatch the first time a model sees a camera that differs (once per
model: a reloaded checkpoint is checked again), and None every other time. Thread-safe: the
camera_info callback and the worker may call it concurrently.
"""

from __future__ import annotations

import threading

from ..data.camera import CameraSpec, camera_mismatch


class CameraCheck:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checked: set[str] = set()
        self._intrinsics: tuple[int, int, float, float] | None = None

    def on_camera_info(self, width: int, height: int, fx: float, fy: float) -> None:
        """sensor_msgs/CameraInfo's size and focal lengths (k[0], k[4]); bad ones are ignored."""
        if width > 0 and height > 0 and fx > 0 and fy > 0:
            with self._lock:
                self._intrinsics = (int(width), int(height), float(fx), float(fy))

    def live_camera(self, width: int, height: int, encoding: str | None) -> CameraSpec:
        with self._lock:
            intrinsics = self._intrinsics
        if intrinsics is not None and intrinsics[:2] == (width, height):
            return CameraSpec.from_intrinsics(*intrinsics, encoding=encoding)
        return CameraSpec(width, height, encoding=encoding, source="frames")

    def check(
        self,
        model_id: str,
        trained: CameraSpec | None,
        width: int,
        height: int,
        encoding: str | None,
    ) -> str | None:
        """The warning for ``model_id`` (once), or None."""
        with self._lock:
            if model_id in self._checked:
                return None
            self._checked.add(model_id)
        return camera_mismatch(trained, self.live_camera(width, height, encoding))
