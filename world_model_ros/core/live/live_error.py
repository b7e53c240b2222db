"""The twin watching itself: recent predictions scored against the odometry that arrives later.

A prediction made on the frame stamped ``t`` says where the robot will be at ``t + (k + 1) dt``
for each step k. Once odometry has reached that time, the tracker looks the true pose up
(interpolated, the same ``OdomBuffer`` the node syncs frames with) and records the position
error (Euclidean x/y, metres) and heading error (absolute, wrapped, radians) of that step.
A prediction whose steps are all scored joins a rolling window; the live error is the mean
per step over that window, with the number of predictions behind each mean.

Contacts (``ground_truth/contact`` in simulation, or a bumper) make a second check: a predicted
state is *contradicted* when the model said collision (probability >= threshold) and no contact
was reported during that step, or it said free and a contact was reported. "During step k"
means the interval (t_k - dt, t_k]; the contact state at a time is the newest report at or
before it, so a slow contact topic still counts. Steps later than the newest contact report are
not judged (no verdict yet), and without any contact reports the share is NaN.

A prediction may carry what a later judgement needs (its start pose, the actions it assumed,
its position variance, and an opaque ``context`` such as the model's latent); the true pose of
each step is kept beside its errors, and a tracker made with ``keep_completed`` hands fully
scored predictions to the domain check (``domain.py``) through :meth:`take_completed`.

Only one prediction per ``sample_period_s`` of stamp time is kept, which bounds the work (a
30 Hz camera and a 2 s horizon would otherwise mean 60 pending predictions). No rclpy here.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..geometry import wrap_angle_np
from .sync import OdomBuffer, SyncError


@dataclass
class TrackedPrediction:
    """One kept prediction and how it turned out, step by step as odometry arrives: errors and
    the true pose (x, y, yaw) of each step k, NaN until scored or where odometry had a gap."""

    stamp_s: float
    dt_s: float
    frame_id: str
    poses_h3: np.ndarray
    predicted_collision_h: np.ndarray  # bool
    start_pose_3: np.ndarray | None = None  # the pose it started from
    actions_h2: np.ndarray | None = None  # the actions it assumed
    position_var_h: np.ndarray | None = None  # m^2, its predicted position variance
    context: Any = None  # the caller's (e.g. the latent, to roll out again later)
    position_error_h: np.ndarray = field(init=False)
    heading_error_h: np.ndarray = field(init=False)
    contradicted_h: np.ndarray = field(init=False)  # 1 contradicted, 0 confirmed, NaN no verdict
    true_poses_h3: np.ndarray = field(init=False)
    next_step: int = 0

    def __post_init__(self) -> None:
        horizon = self.poses_h3.shape[0]
        self.position_error_h = np.full(horizon, np.nan)
        self.heading_error_h = np.full(horizon, np.nan)
        self.contradicted_h = np.full(horizon, np.nan)
        self.true_poses_h3 = np.full((horizon, 3), np.nan)

    def step_time_s(self, k: int) -> float:
        return self.stamp_s + (k + 1) * self.dt_s


@dataclass(frozen=True)
class LiveErrorReport:
    """Means per horizon step over the window (NaN where nothing was scored)."""

    frame_id: str
    position_error_m: np.ndarray
    heading_error_rad: np.ndarray
    samples: np.ndarray  # int, predictions behind each step's mean
    contradicted_share: float
    contact_samples: int
    predictions_scored: int


class LiveErrorTracker:
    """Keeps recent predictions, scores them as odometry (and contact reports) arrive."""

    def __init__(
        self,
        window: int = 100,
        sample_period_s: float = 0.2,
        collision_threshold: float = 0.5,
        max_contacts: int = 5000,
        max_pending: int = 1000,
        keep_completed: bool = False,
    ):
        self.window = window
        self.sample_period_s = sample_period_s
        self.collision_threshold = collision_threshold
        # Bounded: if odometry stops, pending predictions must not grow for hours.
        self._pending: deque[TrackedPrediction] = deque(maxlen=max_pending)
        self._done: deque[TrackedPrediction] = deque(maxlen=window)
        # Fully scored, not yet taken (only with keep_completed; bounded like the pending).
        self._completed: deque[TrackedPrediction] | None = (
            deque(maxlen=max_pending) if keep_completed else None
        )
        self._contact_t: deque[float] = deque(maxlen=max_contacts)
        self._contact_v: deque[bool] = deque(maxlen=max_contacts)
        self._last_kept_stamp_s: float | None = None
        self.scored = 0  # predictions fully scored since start (never reset)
        self.dropped = (
            0  # predictions that could not be scored (odometry reset, gap, frame change)
        )

    def set_window(self, window: int) -> None:
        self.window = window
        self._done = deque(self._done, maxlen=window)

    def reset(self) -> None:
        """Forget pending predictions and contacts (time or odometry reset); the window stays
        valid."""
        self.dropped += len(self._pending)
        self._pending.clear()
        self._contact_t.clear()
        self._contact_v.clear()
        self._last_kept_stamp_s = None

    def add_prediction(
        self,
        stamp_s: float,
        dt_s: float,
        frame_id: str,
        poses_h3: np.ndarray,
        collision_prob_h: np.ndarray,
        *,
        start_pose_3: np.ndarray | None = None,
        actions_h2: np.ndarray | None = None,
        position_var_h: np.ndarray | None = None,
        context: Any = None,
    ) -> bool:
        """Keep the prediction for scoring (at most one per sample_period_s); True when kept.
        The keyword arguments travel with it for whoever takes it when complete."""
        last = self._last_kept_stamp_s
        if last is not None and 0.0 <= stamp_s - last < self.sample_period_s:
            return False
        self._last_kept_stamp_s = stamp_s
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1  # the oldest is pushed out unscored
        self._pending.append(
            TrackedPrediction(
                stamp_s,
                float(dt_s),
                frame_id,
                np.array(poses_h3, dtype=np.float64),
                np.asarray(collision_prob_h) >= self.collision_threshold,
                _copy(start_pose_3),
                _copy(actions_h2),
                _copy(position_var_h),
                context,
            )
        )
        return True

    def take_completed(self) -> list[TrackedPrediction]:
        """Predictions fully scored since the last call, oldest first (``keep_completed``)."""
        if self._completed is None:
            return []
        completed = list(self._completed)
        self._completed.clear()
        return completed

    def add_contact(self, t_s: float, in_contact: bool) -> None:
        if self._contact_t and t_s < self._contact_t[-1]:
            return  # out of order (or a time reset the node handles by calling reset())
        self._contact_t.append(t_s)
        self._contact_v.append(bool(in_contact))

    def _contact_during(self, start_s: float, end_s: float) -> bool | None:
        """Any contact in (start_s, end_s]; None when no report at or after end_s exists yet."""
        if not self._contact_t or self._contact_t[-1] < end_s:
            return None
        times = self._contact_t
        first = bisect.bisect_right(times, start_s)
        last = bisect.bisect_right(times, end_s)
        values = self._contact_v
        state_before = values[first - 1] if first > 0 else False
        return state_before or any(values[i] for i in range(first, last))

    def score(self, odom: OdomBuffer, slop_s: float) -> int:
        """Score every pending step whose time odometry has reached; returns predictions
        completed."""
        newest = odom.latest
        if newest is None:
            return 0
        completed = 0
        while self._pending:
            pending = self._pending[0]
            if pending.frame_id != newest.frame_id:  # odometry frame changed: nothing comparable
                self._pending.popleft()
                self.dropped += 1
                continue
            horizon = pending.poses_h3.shape[0]
            while (
                pending.next_step < horizon
                and pending.step_time_s(pending.next_step) <= newest.stamp_s
            ):
                k = pending.next_step
                t_k = pending.step_time_s(k)
                try:
                    truth = odom.lookup(t_k, slop_s)
                except SyncError:
                    truth = None  # odometry gap or already pruned: this step stays unscored
                if truth is not None:
                    pending.true_poses_h3[k] = truth.pose_xyyaw
                    dx, dy = pending.poses_h3[k, :2] - truth.pose_xyyaw[:2]
                    pending.position_error_h[k] = math.hypot(dx, dy)
                    pending.heading_error_h[k] = abs(
                        float(wrap_angle_np(pending.poses_h3[k, 2] - truth.pose_xyyaw[2]))
                    )
                contact = self._contact_during(t_k - pending.dt_s, t_k)
                if contact is not None:
                    pending.contradicted_h[k] = float(
                        contact != bool(pending.predicted_collision_h[k])
                    )
                pending.next_step += 1
            if pending.next_step < horizon:
                break  # the oldest is not complete, so neither is any later one
            self._pending.popleft()
            self._done.append(pending)
            if self._completed is not None:
                self._completed.append(pending)
            self.scored += 1
            completed += 1
        return completed

    def report(self, horizon: int) -> LiveErrorReport:
        """Per-step means over the window, for steps 0..horizon-1."""
        position = np.full((len(self._done), horizon), np.nan)
        heading = np.full_like(position, np.nan)
        contradicted = []
        for row, done in enumerate(self._done):
            n = min(horizon, done.position_error_h.shape[0])
            position[row, :n] = done.position_error_h[:n]
            heading[row, :n] = done.heading_error_h[:n]
            contradicted.append(done.contradicted_h[np.isfinite(done.contradicted_h)])
        samples = np.isfinite(position).sum(axis=0).astype(np.int64)
        with np.errstate(invalid="ignore"):
            position_mean = np.where(
                samples > 0, np.nansum(position, axis=0) / np.maximum(samples, 1), np.nan
            )
            heading_mean = np.where(
                samples > 0, np.nansum(heading, axis=0) / np.maximum(samples, 1), np.nan
            )
        verdicts = np.concatenate(contradicted) if contradicted else np.zeros(0)
        share = float(verdicts.mean()) if verdicts.size else float("nan")
        frame_id = self._done[-1].frame_id if self._done else ""
        return LiveErrorReport(
            frame_id,
            position_mean,
            heading_mean,
            samples,
            share,
            int(verdicts.size),
            len(self._done),
        )


def _copy(values: np.ndarray | None) -> np.ndarray | None:
    return None if values is None else np.array(values, dtype=np.float64)
