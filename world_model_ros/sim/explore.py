"""Exploration policy for recording: smooth random commands that also run into things, and stop.

A world model learns what it sees. Smooth Ornstein-Uhlenbeck noise on (v, w) covers the
command space the way a teleoperating human does; bursts of "dash" (full speed straight
ahead), "spin" (turn in place) and "reverse" make sure the data hold wall and obstacle
contacts, in-place turns and backing away, which pure OU noise around a forward bias rarely
produces.

**Stop-and-go** (why): a robot driven by a planner starts from rest, creeps and brakes; pure
OU noise around a forward mean is almost never at rest in free space, so in such data
"measured v = 0 under a forward command" happens almost only when pinned against a wall, and
a model learns "slow = blocked" (it then predicts a collision for every start from rest, and
an MPC planner never leaves the start). So the policy also brakes to rest ("brake": a linear
ramp of the command to zero), stands still with a zero command ("stop"), and starts again from
rest ("go": forward, an arc or a turn in place), and creeps ("creep": 0.03-0.12 m/s). At rest
in free space is then common next to at rest against a wall, and the camera tells them apart.

The policy is blind (it never looks at the state), so it does not bias the data towards any
controller's habits, and it is deterministic given its rng. It looks at one thing only: after
pushing against something for ``back_off_after_s`` it backs off (as a teleoperator would), so
contacts are in the data without the robot spending half an episode pinned to a wall.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ExploreConfig:
    """OU parameters (rates in 1/s, speeds in m/s and rad/s) and burst probabilities per second."""

    mean_v_mps: float = 0.22
    theta_v_per_s: float = 0.6
    sigma_v: float = 0.3
    theta_w_per_s: float = 1.0
    sigma_w: float = 1.4
    max_v_mps: float = 0.5
    min_v_mps: float = -0.25
    max_w_radps: float = 2.0
    dash_rate_per_s: float = 0.08
    dash_duration_s: tuple[float, float] = (1.5, 4.0)
    spin_rate_per_s: float = 0.04
    spin_duration_s: tuple[float, float] = (0.8, 2.0)
    reverse_rate_per_s: float = 0.03
    reverse_duration_s: tuple[float, float] = (0.8, 1.6)
    back_off_after_s: float = 1.5
    # stop-and-go: [brake ->] stop -> go (0 disables)
    stop_rate_per_s: float = 0.07
    brake_probability: float = 0.6  # share of stops reached by a ramp rather than a zero step
    brake_duration_s: tuple[float, float] = (0.3, 1.5)
    stop_duration_s: tuple[float, float] = (0.5, 3.0)
    go_duration_s: tuple[float, float] = (1.0, 3.0)
    go_speed_mps: tuple[float, float] = (0.15, 0.5)  # forward start from rest
    go_full_speed_probability: float = (
        0.4  # share of forward starts at max_v_mps: planners start at full speed,
    )
    # and a dash pinned against a wall must not be the only "0.5 m/s at rest"
    go_turn_probability: float = 0.3  # share of starts that turn (arc or in place)
    creep_rate_per_s: float = 0.03
    creep_duration_s: tuple[float, float] = (1.5, 4.0)
    creep_speed_mps: tuple[float, float] = (0.03, 0.12)


@dataclass
class _Burst:
    """A scripted command: linear from ``start`` to ``end`` over ``total_s`` (constant when
    equal)."""

    mode: str
    total_s: float
    start: np.ndarray
    end: np.ndarray
    elapsed_s: float = 0.0

    def next(self, dt_s: float) -> np.ndarray:
        fraction = min(1.0, self.elapsed_s / self.total_s) if self.total_s > 0 else 1.0
        self.elapsed_s += dt_s
        return self.start + (self.end - self.start) * fraction

    @property
    def done(self) -> bool:
        return self.elapsed_s >= self.total_s - 1e-9


class ExplorationPolicy:
    """``command(dt_s)`` -> (v, w) to hold for the next ``dt_s``; deterministic given the rng."""

    def __init__(self, config: ExploreConfig, rng: np.random.Generator):
        self.config = config
        self.rng = rng
        self.reset()

    def reset(self) -> None:
        c = self.config
        self._vw = np.array([self.rng.uniform(0.0, c.max_v_mps), self.rng.normal(0.0, 0.5)])
        self._bursts: list[_Burst] = []  # queued scripted commands, first = running
        self._touching_s = 0.0

    def command(self, dt_s: float, touching: bool = False) -> np.ndarray:
        """The next command; ``touching``: whether the robot is in contact now (for backing
        off)."""
        c = self.config
        self._touching_s = self._touching_s + dt_s if touching else 0.0
        if self._touching_s >= c.back_off_after_s and not (
            self._bursts and self._bursts[0].mode == "reverse"
        ):
            turn = self.rng.choice([-1.0, 1.0]) * c.max_w_radps * 0.75
            back = np.array([c.min_v_mps, 0.0])
            self._bursts = [
                _Burst("reverse", float(self.rng.uniform(*c.reverse_duration_s)), back, back),
                _Burst(
                    "spin",
                    float(self.rng.uniform(*c.spin_duration_s)),
                    np.array([0.0, turn]),
                    np.array([0.0, turn]),
                ),
            ]
            self._touching_s = 0.0
        if not self._bursts:
            self._maybe_start_burst(dt_s)
        if self._bursts:
            burst = self._bursts[0]
            vw = burst.next(dt_s)
            if burst.done:
                self._bursts.pop(0)
            self._vw = vw.copy()  # the OU process continues from where the burst left it
            return vw.copy()
        noise = self.rng.standard_normal(2) * math.sqrt(dt_s)
        v, w = self._vw
        v += c.theta_v_per_s * (c.mean_v_mps - v) * dt_s + c.sigma_v * noise[0]
        w += -c.theta_w_per_s * w * dt_s + c.sigma_w * noise[1]
        self._vw = np.array(
            [np.clip(v, c.min_v_mps, c.max_v_mps), np.clip(w, -c.max_w_radps, c.max_w_radps)]
        )
        return self._vw.copy()

    def _constant(self, mode: str, durations: tuple[float, float], vw: np.ndarray) -> _Burst:
        return _Burst(mode, float(self.rng.uniform(*durations)), vw, vw.copy())

    def _stop_and_go(self) -> list[_Burst]:
        """[brake ->] stop -> go: rest in free space, then a start from rest."""
        c = self.config
        bursts = []
        if self.rng.random() < c.brake_probability:
            bursts.append(
                _Burst(
                    "brake",
                    float(self.rng.uniform(*c.brake_duration_s)),
                    self._vw.copy(),
                    np.zeros(2),
                )
            )
        bursts.append(self._constant("stop", c.stop_duration_s, np.zeros(2)))
        if self.rng.random() < c.go_turn_probability:
            go = np.array(
                [
                    self.rng.uniform(0.0, c.go_speed_mps[1] * 0.6),
                    self.rng.choice([-1.0, 1.0]) * self.rng.uniform(0.5, c.max_w_radps * 0.75),
                ]
            )
        else:
            speed = (
                c.max_v_mps
                if self.rng.random() < c.go_full_speed_probability
                else self.rng.uniform(*c.go_speed_mps)
            )
            go = np.array([speed, self.rng.normal(0.0, 0.3)])
        bursts.append(self._constant("go", c.go_duration_s, go))
        return bursts

    def _maybe_start_burst(self, dt_s: float) -> None:
        c = self.config
        draw = self.rng.random()
        for mode, rate in (
            ("dash", c.dash_rate_per_s),
            ("spin", c.spin_rate_per_s),
            ("reverse", c.reverse_rate_per_s),
            ("stop", c.stop_rate_per_s),
            ("creep", c.creep_rate_per_s),
        ):
            probability = rate * dt_s
            if draw < probability:
                if mode == "dash":
                    self._bursts = [
                        self._constant(
                            mode,
                            c.dash_duration_s,
                            np.array([c.max_v_mps, self.rng.normal(0.0, 0.1)]),
                        )
                    ]
                elif mode == "spin":
                    turn = c.max_w_radps * 0.75 * self.rng.choice([-1.0, 1.0])
                    self._bursts = [self._constant(mode, c.spin_duration_s, np.array([0.0, turn]))]
                elif mode == "reverse":
                    self._bursts = [
                        self._constant(
                            mode,
                            c.reverse_duration_s,
                            np.array([c.min_v_mps, self.rng.normal(0.0, 0.3)]),
                        )
                    ]
                elif mode == "stop":
                    self._bursts = self._stop_and_go()
                else:
                    creep = np.array(
                        [self.rng.uniform(*c.creep_speed_mps), self.rng.normal(0.0, 0.3)]
                    )
                    self._bursts = [self._constant(mode, c.creep_duration_s, creep)]
                return
            draw -= probability
