"""Summary figures of a demo run (per planner) and their side-by-side table.

Kept apart from the loop that produces them so the figures are defined once and testable:
success = goal reached within the time limit (collisions allowed but counted); collision rate =
share of episodes with any contact; time to goal over reached episodes only; latencies over all
planning cycles of all episodes (planning = encode + one MPPI cycle; prediction = encode + one
rollout under the plan, what the world-model node spends per frame).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class PlannerSummary:
    planner: str
    episodes: int
    reached: int
    collided: int
    reached_without_collision: int
    success_rate: float
    collision_rate: float
    time_to_goal_s_mean: float  # NaN when no episode reached its goal
    planning_ms_p50: float
    planning_ms_p95: float
    prediction_ms_p50: float
    prediction_ms_p95: float
    cycles: int

    def to_dict(self) -> dict:
        return {
            k: (None if isinstance(v, float) and not np.isfinite(v) else v)
            for k, v in asdict(self).items()
        }


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def summarise(planner: str, episodes: list) -> PlannerSummary:
    """``episodes``: EpisodeResult-like objects (reached, collided, time_s, planning_ms,
    prediction_ms)."""
    n = len(episodes)
    reached = [e for e in episodes if e.reached]
    planning = [v for e in episodes for v in e.planning_ms]
    prediction = [v for e in episodes for v in e.prediction_ms]
    return PlannerSummary(
        planner=planner,
        episodes=n,
        reached=len(reached),
        collided=sum(e.collided for e in episodes),
        reached_without_collision=sum(e.reached and not e.collided for e in episodes),
        success_rate=len(reached) / n if n else float("nan"),
        collision_rate=sum(e.collided for e in episodes) / n if n else float("nan"),
        time_to_goal_s_mean=float(np.mean([e.time_s for e in reached]))
        if reached
        else float("nan"),
        planning_ms_p50=_percentile(planning, 50),
        planning_ms_p95=_percentile(planning, 95),
        prediction_ms_p50=_percentile(prediction, 50),
        prediction_ms_p95=_percentile(prediction, 95),
        cycles=len(planning),
    )


def _fmt(value: float, spec: str) -> str:
    return "-" if value is None or not np.isfinite(value) else format(value, spec)


def summary_table(summaries: list[PlannerSummary]) -> str:
    """A Markdown table, one column per planner (readable in a terminal and in docs)."""
    rows = [
        ("episodes", lambda s: str(s.episodes)),
        (
            "goal reached",
            lambda s: f"{s.reached}/{s.episodes} ({_fmt(100 * s.success_rate, '.0f')} %)",
        ),
        (
            "episodes with a collision",
            lambda s: f"{s.collided}/{s.episodes} ({_fmt(100 * s.collision_rate, '.0f')} %)",
        ),
        ("reached without collision", lambda s: f"{s.reached_without_collision}/{s.episodes}"),
        ("time to goal, mean (s)", lambda s: _fmt(s.time_to_goal_s_mean, ".1f")),
        (
            "planning latency p50 / p95 (ms)",
            lambda s: f"{_fmt(s.planning_ms_p50, '.1f')} / {_fmt(s.planning_ms_p95, '.1f')}",
        ),
        (
            "prediction latency p50 / p95 (ms)",
            lambda s: f"{_fmt(s.prediction_ms_p50, '.1f')} / {_fmt(s.prediction_ms_p95, '.1f')}",
        ),
        ("planning cycles", lambda s: str(s.cycles)),
    ]
    header = "| | " + " | ".join(f"MPPI on {s.planner}" for s in summaries) + " |"
    lines = [header, "|---" * (len(summaries) + 1) + "|"]
    lines += [
        "| " + name + " | " + " | ".join(cell(s) for s in summaries) + " |" for name, cell in rows
    ]
    return "\n".join(lines)
