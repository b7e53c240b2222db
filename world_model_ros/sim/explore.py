"""Exploration policy for recording: smooth random commands that also run into things.

A world model learns what it sees. Smooth Ornstein-Uhlenbeck noise on (v, w) covers the
command space the way a teleoperating human does; bursts of "dash" (full speed straight
ahead), "spin" (turn in place) and "reverse" make sure the data hold wall and obstacle
contacts, in-place turns and backing away, which pure OU noise around a forward bias rarely
produces. The policy is blind (it never looks at the state), so it does not bias the data
towards any controller's habits. It looks at one thing only: after pushing against something
for ``back_off_after_s`` it backs off (as a teleoperator would), so contacts are in the data
without the robot spending half an episode pinned to a wall.
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


class ExplorationPolicy:
    """``command(dt_s)`` -> (v, w) to hold for the next ``dt_s``; deterministic given the rng."""

    def __init__(self, config: ExploreConfig, rng: np.random.Generator):
        self.config = config
        self.rng = rng
        self.reset()

    def reset(self) -> None:
        c = self.config
        self._vw = np.array([self.rng.uniform(0.0, c.max_v_mps), self.rng.normal(0.0, 0.5)])
        self._bursts: list[tuple[str, float, np.ndarray]] = []  # queued (mode, seconds, command)
        self._touching_s = 0.0

    def command(self, dt_s: float, touching: bool = False) -> np.ndarray:
        """The next command; ``touching``: whether the robot is in contact now (for backing off)."""
        c = self.config
        self._touching_s = self._touching_s + dt_s if touching else 0.0
        if self._touching_s >= c.back_off_after_s and not (self._bursts and self._bursts[0][0] == "reverse"):
            turn = self.rng.choice([-1.0, 1.0]) * c.max_w_radps * 0.75
            self._bursts = [("reverse", float(self.rng.uniform(*c.reverse_duration_s)), np.array([c.min_v_mps, 0.0])),
                            ("spin", float(self.rng.uniform(*c.spin_duration_s)), np.array([0.0, turn]))]
            self._touching_s = 0.0
        if not self._bursts:
            self._maybe_start_burst(dt_s)
        if self._bursts:
            mode, left, vw = self._bursts[0]
            left -= dt_s
            if left <= 0:
                self._bursts.pop(0)
            else:
                self._bursts[0] = (mode, left, vw)
            self._vw = vw.copy()  # the OU process continues from where the burst left it
            return vw.copy()
        noise = self.rng.standard_normal(2) * math.sqrt(dt_s)
        v, w = self._vw
        v += c.theta_v_per_s * (c.mean_v_mps - v) * dt_s + c.sigma_v * noise[0]
        w += -c.theta_w_per_s * w * dt_s + c.sigma_w * noise[1]
        self._vw = np.array([np.clip(v, c.min_v_mps, c.max_v_mps), np.clip(w, -c.max_w_radps, c.max_w_radps)])
        return self._vw.copy()

    def _maybe_start_burst(self, dt_s: float) -> None:
        c = self.config
        draw = self.rng.random()
        for mode, rate, durations in (("dash", c.dash_rate_per_s, c.dash_duration_s),
                                      ("spin", c.spin_rate_per_s, c.spin_duration_s),
                                      ("reverse", c.reverse_rate_per_s, c.reverse_duration_s)):
            probability = rate * dt_s
            if draw < probability:
                seconds = float(self.rng.uniform(*durations))
                if mode == "dash":
                    vw = np.array([c.max_v_mps, self.rng.normal(0.0, 0.1)])
                elif mode == "spin":
                    vw = np.array([0.0, c.max_w_radps * 0.75 * self.rng.choice([-1.0, 1.0])])
                else:
                    vw = np.array([c.min_v_mps, self.rng.normal(0.0, 0.3)])
                self._bursts = [(mode, seconds, vw)]
                return
            draw -= probability
