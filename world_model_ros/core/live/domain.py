"""Is the twin still a twin of this robot? The learned model judged against the kinematic
baseline on the same inputs, and its 95 % interval against the poses that followed.

A learned model carried to another robot (another body, camera, wheels) or a robot whose
motion changed (a slipping wheel, a wrong odometry frame) can predict worse than a plain
unicycle while still sounding sure of itself. The live-error tracker (``live_error.py``) keeps
predictions and the true poses that followed; :class:`DomainCheck` compares, for each, the
learned model and the kinematic baseline (:func:`kinematic_baseline_h3`: the same actions from
the same pose) against those poses, and keeps a window of the last ``window`` predictions that
say something (the robot or a model moved at least ``min_motion_m`` by the judged step: a robot
standing still tells nothing, and keeps the previous verdict).

**Which actions.** A prediction assumes actions (the planner's plan, or the last command held);
on a robot under feedback control they are rarely the ones then sent: each new plan corrects
the last. Judged under the assumed actions, a model that knows the robot (say, that it veers
left) loses to the baseline whenever a planner that does not know it keeps correcting the
veer: the plans assume no veer, the commands sent fight it. So the caller may pass the actions
actually commanded during the prediction (:class:`CommandLog`) and the learned model's rollout
under them; then both models are judged in hindsight on what the robot was told to do. Without
them (no fresh command at every step), the prediction's own actions are used.

Out of domain when, over that window, either

* the learned model's mean position error at ``horizon_s`` exceeds ``worse_ratio`` times the
  baseline's (and ``error_floor_m``, and the baseline's by more than ``tolerance_m``: two errors
  of a few centimetres are both right), or
* fewer than ``min_coverage`` of the later poses (every step up to ``horizon_s``) fell inside
  the learned model's 95 % interval (a pose within ``tolerance_m`` of the prediction counts as
  inside whatever the variance: odometry jitters).

Back in domain only when both are clearly fine again (``recover_ratio``, ``recover_coverage``):
hysteresis, so a model on the edge does not flap the planner between models every second.
Fewer than ``min_samples`` predictions in the window: no verdict change. No rclpy here.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from ..config import ConfigError, setting, validate_settings
from ..geometry import wrap_angle_np
from .live_error import TrackedPrediction

# Squared radius of the 95 % region of an isotropic 2-D Gaussian (chi-squared, 2 degrees of
# freedom): a position error e lies inside when e^2 <= CHI2_2DOF_95 * variance.
CHI2_2DOF_95 = float(-2.0 * np.log(0.05))


def kinematic_baseline_h3(pose_3: np.ndarray, actions_h2: np.ndarray, dt_s: float) -> np.ndarray:
    """Poses [H, 3] of the kinematic (unicycle) model holding each action [H, 2] for ``dt_s``
    from ``pose_3``: the exact arcs of :func:`geometry.integrate_unicycle` (chord ``v dt sinc(w
    dt / 2)`` along the mean heading), in NumPy: one short rollout per judged prediction."""
    pose = np.asarray(pose_3, dtype=np.float64).reshape(3)
    actions = np.asarray(actions_h2, dtype=np.float64).reshape(-1, 2)
    dtheta = actions[:, 1] * dt_s
    yaw_after = pose[2] + np.cumsum(dtheta)
    yaw_mid = yaw_after - 0.5 * dtheta
    chord = actions[:, 0] * dt_s * np.sinc(dtheta / (2.0 * np.pi))
    x = pose[0] + np.cumsum(chord * np.cos(yaw_mid))
    y = pose[1] + np.cumsum(chord * np.sin(yaw_mid))
    return np.stack([x, y, wrap_angle_np(yaw_after)], axis=-1)


class CommandLog:
    """The commands (v, w) sent to the robot, stamped on receipt, to say afterwards which one
    was in force at each step of a prediction."""

    def __init__(self, max_commands: int = 5000):
        self._t: deque[float] = deque(maxlen=max_commands)
        self._vw: deque[tuple[float, float]] = deque(maxlen=max_commands)

    def clear(self) -> None:
        self._t.clear()
        self._vw.clear()

    def add(self, t_s: float, vw_2) -> None:
        if self._t and t_s < self._t[-1]:
            self.clear()  # time went back (a simulation reset): the old timeline is gone
        self._t.append(float(t_s))
        self._vw.append((float(vw_2[0]), float(vw_2[1])))

    def held(self, t_s: float, timeout_s: float) -> tuple[float, float]:
        """The command in force at ``t_s``: the newest at or before it, (0, 0) when none was
        received within ``timeout_s`` before (a base controller's timeout stops the base)."""
        i = bisect.bisect_right(self._t, t_s + 1e-9) - 1
        if i < 0 or t_s - self._t[i] > timeout_s:
            return (0.0, 0.0)
        return self._vw[i]

    def executed(
        self, stamp_s: float, dt_s: float, horizon: int, timeout_s: float
    ) -> np.ndarray | None:
        """[H, 2]: the newest command at or before each step's start (stamp + k dt); None when
        some step had none received within ``timeout_s`` before it (the robot was not being
        commanded here, or the node does not hear its commands)."""
        out = np.empty((horizon, 2))
        for k in range(horizon):
            t_k = stamp_s + k * dt_s
            i = bisect.bisect_right(self._t, t_k + 1e-9) - 1
            if i < 0 or t_k - self._t[i] > timeout_s:
                return None
            out[k] = self._vw[i]
        return out


@dataclass(frozen=True)
class DomainCheckConfig:
    """When the learned model counts as out of its domain (docs/realtime.md, "Domain check")."""

    enabled: bool = setting(
        True,
        "judge the learned model against the kinematic baseline and publish world_model/domain",
    )
    window: int = setting(
        25,
        "predictions the verdict is taken over (the newest in which the robot or a model "
        "moved); one is kept per live_error_sample_period_s",
        low=1,
        high=100000,
    )
    min_samples: int = setting(
        10, "no verdict change with fewer predictions than this in the window", low=1, high=100000
    )
    horizon_s: float = setting(
        2.0,
        "errors are compared at this prediction time (s; at most the predicted horizon)",
        low=0.001,
        high=600.0,
    )
    worse_ratio: float = setting(
        1.0,
        "out of domain when the learned model's mean error exceeds this times the baseline's",
        low=0.1,
        high=100.0,
    )
    recover_ratio: float = setting(
        0.8,
        "back in domain only at or below this times the baseline's error (<= worse_ratio)",
        low=0.01,
        high=100.0,
    )
    min_coverage: float = setting(
        0.5,
        "out of domain when a smaller share of later poses lies inside the learned 95% interval",
        low=0.0,
        high=1.0,
    )
    recover_coverage: float = setting(
        0.7,
        "back in domain only when at least this share lies inside (>= min_coverage)",
        low=0.0,
        high=1.0,
    )
    error_floor_m: float = setting(
        0.05,
        "a learned mean error below this never counts as worse than the baseline (m)",
        low=0.0,
        high=100.0,
    )
    tolerance_m: float = setting(
        0.02,
        "odometry jitter: a later pose this close to the prediction is inside the interval, "
        "and 'worse' means worse by more than this (m)",
        low=0.0,
        high=10.0,
    )
    min_motion_m: float = setting(
        0.05,
        "predictions in which neither the robot nor a model moved this far are not judged (m)",
        low=0.0,
        high=100.0,
    )

    def __post_init__(self) -> None:
        validate_settings(self)
        problems = []
        if self.recover_ratio > self.worse_ratio:
            problems.append(
                f"'recover_ratio' ({self.recover_ratio:g}) must be <= 'worse_ratio' "
                f"({self.worse_ratio:g})"
            )
        if self.recover_coverage < self.min_coverage:
            problems.append(
                f"'recover_coverage' ({self.recover_coverage:g}) must be >= 'min_coverage' "
                f"({self.min_coverage:g})"
            )
        if self.min_samples > self.window:
            problems.append(
                f"'min_samples' ({self.min_samples}) must be <= 'window' ({self.window})"
            )
        if problems:
            raise ConfigError("invalid DomainCheckConfig: " + "; ".join(problems))


@dataclass(frozen=True)
class DomainVerdict:
    """What the check says now; the fields of world_model_ros/DomainStatus."""

    in_domain: bool
    reason: str  # a plain sentence, in domain or not
    learned_error_m: float = math.nan  # mean over the window, at the judged step
    baseline_error_m: float = math.nan
    coverage_95: float = math.nan  # share of later poses inside the learned 95 % interval
    samples: int = 0  # predictions in the window
    judged: bool = False  # enough samples for a verdict (else the previous one holds)
    changes: int = 0  # in/out switches since start


@dataclass(frozen=True)
class _Evidence:
    learned_error_m: float
    baseline_error_m: float
    inside: int  # later poses inside the 95 % interval (steps up to the judged one)
    compared: int  # later poses compared


class DomainCheck:
    """The verdict on the learned model over the last ``config.window`` informative
    predictions; see the module docstring."""

    def __init__(self, config: DomainCheckConfig | None = None):
        self.config = config or DomainCheckConfig()
        self._window: deque[_Evidence] = deque(maxlen=self.config.window)
        self.in_domain = True
        self.changes = 0
        self.ignored = 0  # completed predictions not judged (no motion, unscored judged step)
        self.on_commands_sent = 0  # judged in hindsight, under the commands actually sent
        self.on_assumed_actions = 0  # judged under the actions the prediction assumed
        self._out_reason = ""
        self._judged_at_s = math.nan  # the prediction time the errors are compared at

    def reconfigure(self, config: DomainCheckConfig) -> None:
        self.config = config
        self._window = deque(self._window, maxlen=config.window)

    def reset(self) -> None:
        """New weights: the evidence and the verdict were about the old ones. In domain, not
        judged yet, until ``min_samples`` new predictions are (a robot held still by a planner's
        ``fallback: stop`` gives no new evidence: a new checkpoint is its way out)."""
        self._window.clear()
        self._switch(True)

    def add(
        self,
        prediction: TrackedPrediction,
        actions_h2: np.ndarray | None = None,
        poses_h3: np.ndarray | None = None,
        position_var_h: np.ndarray | None = None,
    ) -> bool:
        """One fully scored prediction (with its start pose, actions and variance); True when
        it counts. ``actions_h2`` with ``poses_h3`` and ``position_var_h``: the actions actually
        commanded and the learned model's rollout under them (judged in hindsight); without
        them, the prediction's own."""
        cfg = self.config
        if prediction.start_pose_3 is None or prediction.actions_h2 is None:
            self.ignored += 1  # nothing to roll the baseline out from
            return False
        hindsight = actions_h2 is not None and poses_h3 is not None
        if actions_h2 is None or poses_h3 is None:
            actions_h2, poses_h3 = prediction.actions_h2, prediction.poses_h3
            position_var_h = prediction.position_var_h
        horizon = poses_h3.shape[0]
        k = min(horizon, max(1, round(cfg.horizon_s / prediction.dt_s))) - 1
        truth = prediction.true_poses_h3[: k + 1, :2]
        baseline = kinematic_baseline_h3(prediction.start_pose_3, actions_h2, prediction.dt_s)
        learned_e = np.hypot(*(poses_h3[: k + 1, :2] - truth).T)
        baseline_e = np.hypot(*(baseline[: k + 1, :2] - truth).T)
        if not (math.isfinite(learned_e[k]) and math.isfinite(baseline_e[k])):
            self.ignored += 1  # no odometry at the judged step
            return False
        start = prediction.start_pose_3[:2]
        motion = [np.hypot(*(p[: k + 1, :2] - start).T) for p in (truth, poses_h3, baseline)]
        if not np.any(np.concatenate(motion) >= cfg.min_motion_m):  # NaN: not motion
            self.ignored += 1
            return False
        scored = np.isfinite(learned_e)
        if position_var_h is None:
            inside_n = compared = 0
        else:
            variance = np.maximum(np.asarray(position_var_h[: k + 1], dtype=np.float64), 0.0)
            inside = (learned_e**2 <= CHI2_2DOF_95 * variance) | (learned_e <= cfg.tolerance_m)
            inside_n, compared = int(np.sum(inside & scored)), int(scored.sum())
        self._window.append(
            _Evidence(float(learned_e[k]), float(baseline_e[k]), inside_n, compared)
        )
        self._judged_at_s = (k + 1) * prediction.dt_s
        if hindsight:
            self.on_commands_sent += 1
        else:
            self.on_assumed_actions += 1
        return True

    def verdict(self) -> DomainVerdict:
        """The verdict on the window as it stands (switching in or out when the rules say)."""
        cfg = self.config
        n = len(self._window)
        if n == 0:
            return self._hold(n, math.nan, math.nan, math.nan)
        learned = float(np.mean([e.learned_error_m for e in self._window]))
        baseline = float(np.mean([e.baseline_error_m for e in self._window]))
        compared = sum(e.compared for e in self._window)
        coverage = sum(e.inside for e in self._window) / compared if compared else math.nan
        if n < cfg.min_samples:
            return self._hold(n, learned, baseline, coverage)
        at = f"at {self._judged_at_s:g} s"
        over = f"over the last {n} predictions"
        worse = (
            learned > cfg.worse_ratio * baseline
            and learned >= cfg.error_floor_m
            and learned - baseline > cfg.tolerance_m
        )
        under_covered = math.isfinite(coverage) and coverage < cfg.min_coverage
        problems = []
        if worse:
            problems.append(
                f"the learned model predicts worse than the kinematic baseline on this robot: "
                f"{learned:.2f} m vs {baseline:.2f} m mean error {at} {over}"
            )
        if under_covered:
            problems.append(
                f"its 95% interval held only {coverage:.0%} of later poses {over} "
                f"(out of domain below {cfg.min_coverage:.0%})"
                if worse
                else f"the learned model's 95% interval held only {coverage:.0%} of later poses "
                f"(up to {self._judged_at_s:g} s ahead) {over}: it is sure of predictions that "
                f"do not happen on this robot (mean error {learned:.2f} m vs {baseline:.2f} m "
                f"for the kinematic baseline)"
            )
        if problems:
            self._switch(False)
            self._out_reason = "; ".join(problems)
            reason = self._out_reason
        elif self.in_domain:
            reason = (
                f"in domain: the learned model's mean error {at} is {learned:.2f} m vs "
                f"{baseline:.2f} m for the kinematic baseline, and {coverage:.0%} of later poses "
                f"lay inside its 95% interval, {over}"
            )
        else:
            recovered = (
                learned <= cfg.recover_ratio * baseline or learned < cfg.error_floor_m
            ) and (not math.isfinite(coverage) or coverage >= cfg.recover_coverage)
            if recovered:
                self._switch(True)
                reason = (
                    f"back in domain: the learned model's mean error {at} is {learned:.2f} m vs "
                    f"{baseline:.2f} m for the kinematic baseline, and {coverage:.0%} of later "
                    f"poses lay inside its 95% interval, {over}"
                )
            else:
                reason = (
                    f"still out of domain until the learned model's error is at most "
                    f"{cfg.recover_ratio:g}x the baseline's and {cfg.recover_coverage:.0%} of "
                    f"later poses lie inside its 95% interval: now {learned:.2f} m vs "
                    f"{baseline:.2f} m mean error {at} and {coverage:.0%}, {over}"
                )
        return DomainVerdict(
            self.in_domain, reason, learned, baseline, coverage, n, True, self.changes
        )

    def _switch(self, in_domain: bool) -> None:
        if in_domain != self.in_domain:
            self.in_domain = in_domain
            self.changes += 1

    def _hold(self, n: int, learned: float, baseline: float, coverage: float) -> DomainVerdict:
        """Too few predictions to judge: the previous verdict stands."""
        need = self.config.min_samples
        if self.in_domain:
            reason = (
                f"not judged yet: {n} of {need} predictions needed (a prediction counts once "
                f"the robot or a model moves at least {self.config.min_motion_m:g} m)"
            )
        else:
            reason = (
                f"{self._out_reason} (held: {n} of the {need} predictions needed to judge again)"
            )
        return DomainVerdict(
            self.in_domain, reason, learned, baseline, coverage, n, False, self.changes
        )
