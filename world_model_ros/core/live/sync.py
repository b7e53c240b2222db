"""Pairing a camera frame with the robot's state at its stamp, and aligning a plan in time.

The node conditions each prediction on one camera frame; the pose it starts from must be the
pose *at that frame's stamp*, not whatever odometry arrived last. ``OdomBuffer`` keeps a short,
time-ordered history of odometry and answers "where was the robot at t?" by interpolating
between the two samples around t, or taking the nearest sample within a slop. ``StampMonitor``
watches one topic's stamps so that out-of-order and duplicated messages are rejected, a lone
message from another timeline is rejected as an outlier, and a time reset that persists (a
simulation restart) clears history instead of wedging the node. ``align_plan`` resamples a
planner's action sequence, stamped at its own start time, onto the model's steps after a camera
stamp. No rclpy here: stamps are float seconds.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass
from enum import Enum

import numpy as np

from ..geometry import wrap_angle_np


@dataclass(frozen=True)
class OdomSample:
    """One odometry message: stamp (s), pose (x m, y m, yaw rad) in ``frame_id``, body twist (v
    m/s, w rad/s)."""

    stamp_s: float
    pose_xyyaw: np.ndarray
    twist_vw: np.ndarray
    frame_id: str


class SyncError(LookupError):
    """No odometry can be paired with a frame; ``reason`` is a stable key for counting."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason  # "no_odometry" | "odometry_out_of_sync"


class OdomBuffer:
    """Time-ordered odometry history covering the last ``history_s`` seconds.

    Samples must arrive in stamp order (the node rejects backwards stamps before adding); a
    sample with the same stamp as the newest replaces it.
    """

    def __init__(
        self, history_s: float = 2.0, max_interpolation_gap_s: float = 0.5, max_samples: int = 2000
    ):
        self.history_s = history_s
        self.max_interpolation_gap_s = max_interpolation_gap_s
        self._samples: deque[OdomSample] = deque(maxlen=max_samples)
        self._stamps: deque[float] = deque(maxlen=max_samples)

    def __len__(self) -> int:
        return len(self._samples)

    @property
    def latest(self) -> OdomSample | None:
        return self._samples[-1] if self._samples else None

    def clear(self) -> None:
        self._samples.clear()
        self._stamps.clear()

    def add(self, sample: OdomSample) -> None:
        if self._stamps and sample.stamp_s < self._stamps[-1]:
            raise ValueError(
                f"odometry stamp {sample.stamp_s:.6f} s is older than the newest "
                f"{self._stamps[-1]:.6f} s"
            )
        if self._stamps and sample.stamp_s == self._stamps[-1]:
            self._samples.pop()
            self._stamps.pop()
        self._samples.append(sample)
        self._stamps.append(sample.stamp_s)
        while self._stamps and self._stamps[0] < sample.stamp_s - self.history_s:
            self._samples.popleft()
            self._stamps.popleft()

    def twist_at(self, stamp_s: float, default_2: np.ndarray) -> np.ndarray:
        """The measured twist at ``stamp_s``, interpolated when bracketed, else the nearest
        sample's (the oldest before the buffer, the newest after it); ``default_2`` when the
        buffer is empty. For the encoder's history input (core/live/motion_history.py)."""
        if not self._samples:
            return np.asarray(default_2, np.float32)
        index = bisect.bisect_left(self._stamps, stamp_s)
        if index == 0:
            return self._samples[0].twist_vw
        if index == len(self._samples):
            return self._samples[-1].twist_vw
        before, after = self._samples[index - 1], self._samples[index]
        return interpolate(before, after, stamp_s).twist_vw

    def lookup(self, stamp_s: float, slop_s: float) -> OdomSample:
        """The robot's state at ``stamp_s``: interpolated when bracketed, else nearest within
        ``slop_s``.

        Raises SyncError("no_odometry") when the buffer is empty and
        SyncError("odometry_out_of_sync") when no sample is close enough.
        """
        if not self._samples:
            raise SyncError("no_odometry", "no odometry received yet")
        index = bisect.bisect_left(self._stamps, stamp_s)
        if index < len(self._stamps) and self._stamps[index] == stamp_s:
            return self._samples[index]
        before = self._samples[index - 1] if index > 0 else None
        after = self._samples[index] if index < len(self._samples) else None
        if (
            before is not None
            and after is not None
            and after.stamp_s - before.stamp_s <= self.max_interpolation_gap_s
        ):
            return interpolate(before, after, stamp_s)
        nearest = min(
            (s for s in (before, after) if s is not None), key=lambda s: abs(s.stamp_s - stamp_s)
        )
        offset_s = nearest.stamp_s - stamp_s
        if abs(offset_s) <= slop_s:
            return OdomSample(stamp_s, nearest.pose_xyyaw, nearest.twist_vw, nearest.frame_id)
        return _raise_out_of_sync(stamp_s, offset_s, slop_s, self._stamps[0], self._stamps[-1])


def _raise_out_of_sync(
    stamp_s: float, offset_s: float, slop_s: float, oldest_s: float, newest_s: float
):
    raise SyncError(
        "odometry_out_of_sync",
        f"nearest odometry is {offset_s:+.3f} s from the frame stamp {stamp_s:.3f} s "
        f"(sync_slop_s={slop_s:g}; odometry buffered from {oldest_s:.3f} to {newest_s:.3f} s)",
    )


def interpolate(before: OdomSample, after: OdomSample, stamp_s: float) -> OdomSample:
    """Linear interpolation in position and twist, shortest-way interpolation in yaw."""
    span_s = after.stamp_s - before.stamp_s
    alpha = 0.0 if span_s <= 0 else (stamp_s - before.stamp_s) / span_s
    pose = before.pose_xyyaw + alpha * (after.pose_xyyaw - before.pose_xyyaw)
    dyaw = float(wrap_angle_np(after.pose_xyyaw[2] - before.pose_xyyaw[2]))
    pose[2] = float(wrap_angle_np(before.pose_xyyaw[2] + alpha * dyaw))
    twist = before.twist_vw + alpha * (after.twist_vw - before.twist_vw)
    return OdomSample(stamp_s, pose, twist, after.frame_id)


class StampOrder(Enum):
    OK = "ok"
    DUPLICATE = "duplicate"  # the same stamp as the newest accepted one: rejected, counted
    BACKWARDS = "backwards"  # a little older than the newest (within the threshold): rejected
    OUTLIER = "outlier"  # far from the current timeline, not (yet) confirmed: rejected
    RESET = "reset"  # a new timeline, confirmed: time itself jumped (simulation restart)


class StampMonitor:
    """Watches one topic's stamps: in order, duplicated, slightly backwards, or another timeline.

    A stamp more than ``reset_threshold_s`` before the newest, or after it and in the future of
    the node's clock (or with no clock to ask), belongs to another timeline. One such message
    is an outlier (a stray publisher, a message stamped 0 or in 2038) and is rejected; it must
    not wipe the history of the timeline the robot is on. The new timeline is believed, and
    ``RESET`` returned, on evidence:

    - ``confirm_count`` consecutive messages on it (stamps increasing, each within the
      threshold of the one before, no message of the old timeline in between), or
    - the node's clock: the new stamp is within the threshold of ``now_s`` and the old
      timeline's newest stamp is not (under ``use_sim_time``: /clock jumped back with it).

    A forward gap that is not in the clock's future (a sensor that paused, a late message) is
    simply in order.
    """

    def __init__(self, reset_threshold_s: float = 1.0, confirm_count: int = 5):
        self.reset_threshold_s = reset_threshold_s
        self.confirm_count = confirm_count
        self.last_s: float | None = None
        self._candidate_s: float | None = None  # newest stamp of a timeline not yet believed
        self._candidate_count = 0

    def check(self, stamp_s: float, now_s: float | None = None) -> StampOrder:
        """Classify ``stamp_s`` (``now_s``: the node's clock, when known); an accepted (OK or
        RESET) stamp becomes the newest."""
        last, threshold = self.last_s, self.reset_threshold_s
        if last is None:
            return self._accept(stamp_s, StampOrder.OK)
        delta_s = stamp_s - last
        if -threshold <= delta_s <= 0.0:
            self._candidate_s, self._candidate_count = None, 0  # the old timeline is alive
            return StampOrder.DUPLICATE if delta_s == 0.0 else StampOrder.BACKWARDS
        not_future = now_s is not None and stamp_s <= now_s + threshold
        if delta_s > 0.0 and (delta_s <= threshold or not_future):
            return self._accept(stamp_s, StampOrder.OK)
        if self._on_clock(stamp_s, now_s) and not self._on_clock(last, now_s):
            return self._accept(stamp_s, StampOrder.RESET)
        candidate = self._candidate_s
        if candidate is not None and 0.0 < stamp_s - candidate <= threshold:
            self._candidate_count += 1
        else:
            self._candidate_count = 1
        self._candidate_s = stamp_s
        if self._candidate_count >= self.confirm_count:
            return self._accept(stamp_s, StampOrder.RESET)
        return StampOrder.OUTLIER

    def _on_clock(self, stamp_s: float, now_s: float | None) -> bool:
        return now_s is not None and abs(now_s - stamp_s) <= self.reset_threshold_s

    def _accept(self, stamp_s: float, order: StampOrder) -> StampOrder:
        self.last_s = stamp_s
        self._candidate_s, self._candidate_count = None, 0
        return order

    def clear(self) -> None:
        self.last_s = None
        self._candidate_s, self._candidate_count = None, 0


@dataclass(frozen=True)
class Plan:
    """A planner's command sequence: ``actions_n2[i]`` (v m/s, w rad/s) holds over
    [stamp_s + i dt_s, stamp_s + (i + 1) dt_s); the last one is held after the end."""

    stamp_s: float
    dt_s: float
    actions_n2: np.ndarray

    def __post_init__(self):
        if not (math.isfinite(self.dt_s) and self.dt_s > 0):
            raise ValueError(
                f"plan dt must be a positive finite number of seconds; got {self.dt_s}"
            )
        actions = np.asarray(self.actions_n2)
        if actions.ndim != 2 or actions.shape[0] == 0 or actions.shape[1] != 2:
            raise ValueError(
                f"plan actions must be a non-empty [N, 2] array; got shape {actions.shape}"
            )
        if not np.isfinite(actions).all():
            raise ValueError("plan actions contain NaN or inf")


def align_plan(plan: Plan, stamp_s: float, horizon: int, dt_s: float) -> np.ndarray:
    """[horizon, 2] actions for model steps after ``stamp_s``: step k takes the plan action in
    force at its start time ``stamp_s + k dt_s`` (zero-order hold; clamped to the first/last
    action)."""
    step_start_s = stamp_s + dt_s * np.arange(horizon) - plan.stamp_s
    index = np.floor(step_start_s / plan.dt_s + 1e-6).astype(np.int64)
    index = np.clip(index, 0, len(plan.actions_n2) - 1)
    return np.asarray(plan.actions_n2, dtype=np.float64)[index]
