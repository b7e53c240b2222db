"""Contact labels from the robot's own experience, for bags without a contact topic.

A real robot's bags have no simulator telling when it touched something, yet the collision
head needs labels. What the bags do have is what the robot was told to do (the command) and
what it did (odometry). A base that tracks its command in free space and suddenly does not is
blocked: that is a contact a robot can feel. Two cues, per step t of an episode at a fixed dt:

* **stall**: over the last ``window_s`` the base, started from the velocity it really had and
  following the commands within its acceleration and speed limits, should have travelled at
  least ``min_expected_m`` in the commanded direction, but covered less than
  ``stall_ratio`` of that (a wall in front, or a box it is pushing against);
* **impact**: it decelerated harder than its braking limit allows (``impact_margin`` x the
  acceleration limit) while the command did not ask it to slow down (it ran into something).

An impact starts a contact and a stall sustains it. A stop command is never a contact (the
base is doing what it was told), nor is accelerating from rest within the limits (a start from
rest is slow, not blocked): both are the reasons the cues look at expected motion, not at speed.
A bumper (std_msgs/Bool, or any message with a boolean-ish field) adds its own labels.

The limits come from the robot file (sim/robots.py) or, without one, from the bags themselves
(:func:`estimate_limits`: high percentiles of the measured speed and acceleration). Pure NumPy
on :class:`~world_model_ros.core.data.episodes.Episode`; no bags, no rclpy.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .episodes import Episode


@dataclass(frozen=True)
class BaseLimits:
    """What the base can do (robot file ``limits``); commands beyond them are clipped."""

    max_linear_mps: float = 0.5
    max_linear_accel_mps2: float = 1.0
    max_angular_radps: float = 2.0
    max_angular_accel_radps2: float = 4.0

    def __post_init__(self) -> None:
        if (
            not min(
                self.max_linear_mps,
                self.max_linear_accel_mps2,
                self.max_angular_radps,
                self.max_angular_accel_radps2,
            )
            > 0
        ):
            raise ValueError(f"base limits must be > 0; got {self}")


@dataclass(frozen=True)
class ContactLabelConfig:
    """Thresholds of the two cues (defaults measured against the simulator's truth,
    docs/any_robot.md)."""

    window_s: float = 0.5  # how far back the stall cue compares expected and real motion
    min_expected_m: float = 0.04  # expected travel below this says nothing (stopped, creeping)
    stall_ratio: float = 0.35  # covered less than this share of the expected travel: blocked
    min_command_mps: float = 0.04  # a command slower than this does not push
    impact_margin: float = 1.6  # a rate change beyond this x the acceleration limit
    min_impact_speed_mps: float = 0.12  # ... by at least this much
    min_expected_rad: float = 0.15  # the same three for turning
    min_command_radps: float = 0.2
    min_impact_turn_radps: float = 0.4
    lag_s: float = 0.05  # the base's response lag (motor + controller) in the expected motion
    min_event_steps: int = 2  # shorter runs of stall are noise (a single odometry hiccup)

    def __post_init__(self) -> None:
        if not (0 < self.stall_ratio < 1 and self.window_s > 0 and self.min_event_steps >= 1):
            raise ValueError(f"invalid contact label configuration: {self}")


@dataclass
class LabelReport:
    """What the derivation found: the label sources and how many labels each gave."""

    sources: Counter = field(default_factory=Counter)  # source -> episodes labelled by it
    positive_steps: Counter = field(default_factory=Counter)  # source -> steps labelled contact
    steps: Counter = field(default_factory=Counter)  # source -> steps labelled at all
    events: Counter = field(default_factory=Counter)  # "stall", "impact", "bumper" -> onsets
    unlabelled_episodes: int = 0

    def any_labels(self) -> bool:
        return sum(self.steps.values()) > 0

    def lines(self) -> list[str]:
        out = []
        for source in sorted(self.sources):
            out.append(
                f"{source}: {self.sources[source]} episode(s), {self.steps[source]} steps, "
                f"{self.positive_steps[source]} labelled contact"
                + (
                    f" ({', '.join(f'{k} {v}' for k, v in sorted(self.events.items()))} onsets)"
                    if source == "derived from motion" and self.events
                    else ""
                )
            )
        if self.unlabelled_episodes:
            out.append(f"no contact labels: {self.unlabelled_episodes} episode(s)")
        return out


def measured_forward_speed(episode: Episode) -> np.ndarray:
    """Body-frame forward speed [T] (m/s) from the odometry twist as loaded (the data doctor
    checks it against the poses; ``--twist-from-poses`` replaces it)."""
    return np.asarray(episode.twists_t2, dtype=np.float64)[:, 0]


def forward_progress(poses_t3: np.ndarray, steps: int) -> np.ndarray:
    """Displacement [T] (m) from pose t - steps to pose t along the heading at t - steps
    (0 for the first ``steps`` samples)."""
    poses = np.asarray(poses_t3, dtype=np.float64)
    out = np.zeros(len(poses))
    if len(poses) <= steps:
        return out
    d = poses[steps:, :2] - poses[:-steps, :2]
    yaw = poses[:-steps, 2]
    out[steps:] = d[:, 0] * np.cos(yaw) + d[:, 1] * np.sin(yaw)
    return out


def yaw_progress(poses_t3: np.ndarray, steps: int) -> np.ndarray:
    """Heading change [T] (rad, unwrapped) from pose t - steps to pose t (0 before)."""
    yaw = np.unwrap(np.asarray(poses_t3, dtype=np.float64)[:, 2])
    out = np.zeros(len(yaw))
    if len(yaw) > steps:
        out[steps:] = yaw[steps:] - yaw[:-steps]
    return out


def expected_progress(
    rate0_t: np.ndarray,
    commands_t: np.ndarray,
    dt_s: float,
    steps: int,
    max_rate: float,
    max_accel: float,
) -> np.ndarray:
    """For each t >= steps: how far [T] (m or rad) a free base starting at the measured rate
    ``rate0_t[t - steps]`` gets in ``steps`` steps of the commands in force, with its rate and
    acceleration limits (a rate-limited tracker, integrated in 10 sub-steps per step)."""
    rate0 = np.asarray(rate0_t, dtype=np.float64)
    cmd = np.clip(np.asarray(commands_t, dtype=np.float64), -max_rate, max_rate)
    count = len(rate0)
    out = np.zeros(count)
    if count <= steps:
        return out
    sub = 10
    h = dt_s / sub
    dv = max_accel * h
    starts = np.arange(count - steps)
    rate = rate0[starts].copy()
    travelled = np.zeros(len(starts))
    for k in range(steps):
        target = cmd[starts + k]
        for _ in range(sub):
            rate = rate + np.clip(target - rate, -dv, dv)
            travelled += rate * h
    out[steps:] = travelled
    return out


@dataclass(frozen=True)
class _Axis:
    """One motion axis's inputs to the cues (linear: m, m/s; angular: rad, rad/s)."""

    measured_rate_t: np.ndarray  # odometry twist
    commands_t: np.ndarray
    progress_window_t: np.ndarray  # from the poses, over the stall window
    progress_step_t: np.ndarray  # from the poses, over one step
    max_rate: float
    max_accel: float
    min_expected: float
    min_command: float
    min_impact_rate: float
    linear: bool


def _axis_cues(
    axis: _Axis, dt: float, steps: int, config: ContactLabelConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(stall, impact) bool [T] on one axis; see the module docstring."""
    commands = axis.commands_t
    # The command at step t is in force from t to t + 1; a base responds with a lag, so the
    # tracker sees each command ``lag_s`` late.
    lag = min(config.lag_s / dt, 1.0)
    shifted = np.concatenate([[commands[0]], commands[:-1]])
    lagged = (1 - lag) * commands + lag * shifted
    expected = expected_progress(
        axis.measured_rate_t, lagged, dt, steps, axis.max_rate, axis.max_accel
    )
    direction = np.sign(expected)
    pushing = np.abs(commands) > axis.min_command
    # the command of the last step must still push the same way (a stop or a reversal is not)
    same_way = np.sign(shifted) == direction
    stall = (
        (np.abs(expected) >= axis.min_expected)
        & (direction * axis.progress_window_t < config.stall_ratio * np.abs(expected))
        & pushing
        & same_way
    )
    # impact: the rate over one step (from the poses: a single odometry twist can dip) leaves
    # what the base could do following its command within its acceleration limit
    rate = axis.progress_step_t / dt  # [t]: from t - 1 to t
    before = np.concatenate([[0.0], rate[:-1]])
    commanded = np.concatenate([[0.0, 0.0], commands[:-2]])  # in force from t - 2 to t - 1
    reachable = before + np.clip(commanded - before, -axis.max_accel * dt, axis.max_accel * dt)
    deviation = rate - reachable
    impact = np.abs(deviation) >= max(
        axis.min_impact_rate, config.impact_margin * axis.max_accel * dt
    )
    if axis.linear:  # a linear impact slows the base down; it never pushes it on
        impact &= (np.sign(deviation) == -np.sign(before)) & (np.abs(before) > 0)
    impact[:2] = False  # no history yet: the first rates say nothing about a change
    return stall, impact


def derive_contacts(
    episode: Episode,
    limits: BaseLimits = BaseLimits(),
    config: ContactLabelConfig = ContactLabelConfig(),
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Contact labels [T] (bool) from commanded versus measured motion, and the cues
    (``stall``, ``impact``: bool [T], either axis) that produced them. See the module
    docstring."""
    dt = float(episode.dt_s)
    steps = max(1, int(round(config.window_s / dt)))
    commands = np.asarray(episode.commands_t2, dtype=np.float64)
    twists = np.asarray(episode.twists_t2, dtype=np.float64)
    poses = episode.poses_t3
    linear = _Axis(
        twists[:, 0],
        commands[:, 0],
        forward_progress(poses, steps),
        forward_progress(poses, 1),
        limits.max_linear_mps,
        limits.max_linear_accel_mps2,
        config.min_expected_m,
        config.min_command_mps,
        config.min_impact_speed_mps,
        True,
    )
    angular = _Axis(
        twists[:, 1],
        commands[:, 1],
        yaw_progress(poses, steps),
        yaw_progress(poses, 1),
        limits.max_angular_radps,
        limits.max_angular_accel_radps2,
        config.min_expected_rad,
        config.min_command_radps,
        config.min_impact_turn_radps,
        False,
    )
    stall_v, impact_v = _axis_cues(linear, dt, steps, config)
    stall_w, impact_w = _axis_cues(angular, dt, steps, config)
    stall = _drop_short_runs(stall_v | stall_w, config.min_event_steps)
    impact = impact_v | impact_w
    contacts = stall | impact
    # an impact starts a contact that the following stall steps continue: fill the short gap
    # between an impact and a stall that follows it within the window
    for t in np.flatnonzero(impact):
        ahead = np.flatnonzero(stall[t + 1 : t + 1 + steps + 1])
        if len(ahead):
            contacts[t : t + 1 + int(ahead[0]) + 1] = True
    return contacts, {"stall": stall, "impact": impact}


def _drop_short_runs(flags: np.ndarray, min_steps: int) -> np.ndarray:
    if min_steps <= 1 or not flags.any():
        return flags
    out = flags.copy()
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if stop - start < min_steps:
            out[start:stop] = False
    return out


def onsets(flags: np.ndarray) -> int:
    """Number of runs of True in a bool array."""
    flags = np.asarray(flags, dtype=bool)
    return int(np.sum(flags[1:] & ~flags[:-1]) + (1 if len(flags) and flags[0] else 0))


def estimate_limits(episodes: list[Episode]) -> BaseLimits:
    """The base's rate and acceleration limits as the bags show them (no robot file): the
    99th percentile of the measured |rate| and of |acceleration| where the base sped up
    towards its command (braking into walls does not count), per axis."""
    values: list[float] = []
    for axis, floor_rate, floor_accel in ((0, 0.05, 0.1), (1, 0.2, 0.5)):
        rates, accels = [], []
        for e in episodes:
            rate = np.asarray(e.twists_t2, dtype=np.float64)[:, axis]
            rates.append(np.abs(rate))
            if len(rate) > 1:
                accel = np.diff(rate) / e.dt_s
                towards = np.sign(np.asarray(e.commands_t2)[:-1, axis] - rate[:-1]) == np.sign(
                    accel
                )
                accels.append(np.abs(accel[towards & (np.abs(accel) > 1e-3)]))
        rate_all = np.concatenate(rates) if rates else np.zeros(0)
        accel_all = np.concatenate(accels) if accels else np.zeros(0)
        values.append(
            max(float(np.percentile(rate_all, 99)), floor_rate) if len(rate_all) else 1.0
        )
        values.append(
            max(float(np.percentile(accel_all, 99)), floor_accel) if len(accel_all) else 1.0
        )
    return BaseLimits(*values)


def label_episodes(
    episodes: list[Episode],
    limits: BaseLimits | None,
    config: ContactLabelConfig = ContactLabelConfig(),
    derive: str = "auto",
) -> LabelReport:
    """Fill ``contacts_t`` where the bags gave none, and say where every label came from.

    ``derive``: ``auto`` derives motion labels for episodes without a contact topic (joined
    with a bumper's where the bag has one); ``always`` replaces even a contact topic's (to
    measure the derivation against the truth); ``never`` derives nothing. An episode's
    ``metadata["contact_source"]`` names its labels' source; ``metadata["bumper_t"]`` holds a
    bumper's flags (the loader puts them there). Returns the report ``train`` prints.
    """
    if derive not in ("auto", "always", "never"):
        raise ValueError(f"derive must be auto, always or never; got {derive!r}")
    report = LabelReport()
    limits = limits or estimate_limits(episodes)
    for episode in episodes:
        bumper = episode.metadata.get("bumper_t")
        has_truth = episode.contacts_t is not None and not episode.metadata.get("contact_source")
        if has_truth and derive != "always":
            source, labels = "contact topic", np.asarray(episode.contacts_t, bool)
        elif derive == "never" and bumper is None:
            episode.contacts_t = None
            report.unlabelled_episodes += 1
            continue
        else:
            labels = np.zeros(len(episode), bool)
            parts = []
            if derive != "never":
                derived, cues = derive_contacts(episode, limits, config)
                labels |= derived
                report.events["stall"] += onsets(cues["stall"])
                report.events["impact"] += onsets(cues["impact"])
                parts.append("derived from motion")
            if bumper is not None:
                labels |= np.asarray(bumper, bool)
                report.events["bumper"] += onsets(bumper)
                parts.append("bumper")
            source = " + ".join(parts)
            episode.contacts_t = labels
        episode.metadata["contact_source"] = source
        report.sources[source] += 1
        report.steps[source] += len(episode)
        report.positive_steps[source] += int(np.sum(labels))
    return report
