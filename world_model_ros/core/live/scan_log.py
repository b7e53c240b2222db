"""The LaserScan input at run time: the newest few scans, and the one a frame takes.

A model with ``scan_sectors`` (core/model/latent_model.py) was trained on, for each frame, the
newest scan at or before it within SCAN_MAX_AGE_S, its returns moved into base_link at the
frame's time by the odometry (core/data/scan_input.py). Two running encoders need that input,
the twin's (nodes/world_model_cycle.py) and the planner's own when it plans from camera and
odometry (``state_source: local``, nodes/planner_inputs.py); both keep their scans here, so
the two pick and place a scan by the same rule the loader used.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ..data.scan_input import SCAN_MAX_AGE_S, scan_points, sector_input, sensor_pose
from ..model.contract import EncoderInputs
from .sync import OdomBuffer, SyncError

Scan = tuple[float, np.ndarray, np.ndarray]  # (stamp s, beam angles rad, ranges m)

# Frames encoded before a LiDAR that has sent nothing yet is reported missing (a LiDAR often
# starts a moment after the camera; a warning on every start would be noise)
SCAN_GRACE_FRAMES = 15


class ScanLog:
    """The newest scans in stamp order (not thread-safe: the caller holds its lock). Whether a
    stamp is on the robot's timeline is the caller's StampMonitor's to say (core/live/sync.py:
    a lone scan stamped 0 must not wipe the log); on a confirmed new timeline it clears this."""

    def __init__(self, keep: int = 8):
        self._scans: deque[Scan] = deque(maxlen=keep)

    def __len__(self) -> int:
        return len(self._scans)

    def clear(self) -> None:
        self._scans.clear()

    @property
    def newest(self) -> Scan | None:
        return self._scans[-1] if self._scans else None

    @property
    def newest_s(self) -> float | None:
        return self._scans[-1][0] if self._scans else None

    def add(self, scan: Scan) -> bool:
        """Keep ``scan``; False (not kept) when it is not newer than the newest."""
        newest = self.newest_s
        if newest is not None and scan[0] <= newest:
            return False
        self._scans.append(scan)
        return True

    def input_at(
        self,
        stamp_s: float,
        pose_3: np.ndarray,
        odometry: OdomBuffer,
        sync_slop_s: float,
        inputs: EncoderInputs,
    ) -> np.ndarray | None:
        """The encoder's scan input at a frame taken at ``stamp_s`` from ``pose_3``: the newest
        scan at or before it within SCAN_MAX_AGE_S, seen from the frame's pose; None (read as
        "no scan") when there is none. With no odometry at the scan's own stamp the base is
        taken as still since."""
        scan = next((s for s in reversed(self._scans) if s[0] <= stamp_s + 1e-6), None)
        if scan is None or stamp_s - scan[0] > SCAN_MAX_AGE_S:
            return None
        try:
            at_scan = odometry.lookup(scan[0], sync_slop_s).pose_xyyaw
        except SyncError:
            at_scan = pose_3
        points = scan_points(sensor_pose(at_scan, inputs.scan_forward_m), scan[1], scan[2])
        return sector_input(points, pose_3, inputs.scan_sectors, inputs.scan_range_m)
