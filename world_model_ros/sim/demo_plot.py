"""The demo's figure: one panel per episode, the arena map with each planner's driven path.

Obstacles are drawn from the simulator's ground truth (which the planner never sees); the
start is a dot, the goal a star with the goal tolerance as a circle, and a cross marks where a
path touched something. Under them, in blue (free) to red (blocked), the learned planner's
occupancy map as it stood when its episode ended: what the camera had seen, where.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only: no display on a robot or CI machine
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import patches  # noqa: E402

from ..core.data.episodes import ArenaMap  # noqa: E402

PLANNER_COLOURS = ["tab:green", "tab:red", "tab:blue", "tab:purple"]


def _draw_arena(ax, arena: ArenaMap) -> None:
    h = arena.half_size_m
    ax.add_patch(patches.Rectangle((-h, -h), 2 * h, 2 * h, fill=False, lw=1.5, ec="0.3"))
    for o in arena.obstacles:
        if o.kind == "box":
            corner = (
                o.x - o.hx * math.cos(o.yaw) + o.hy * math.sin(o.yaw),
                o.y - o.hx * math.sin(o.yaw) - o.hy * math.cos(o.yaw),
            )
            ax.add_patch(
                patches.Rectangle(
                    corner, 2 * o.hx, 2 * o.hy, angle=math.degrees(o.yaw), fc="0.55", ec="0.3"
                )
            )
        else:
            ax.add_patch(patches.Circle((o.x, o.y), o.hx, fc="0.55", ec="0.3"))
    ax.set_xlim(-h - 0.1, h + 0.1)
    ax.set_ylim(-h - 0.1, h + 0.1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_paths(
    path: str | Path,
    arenas: dict[int, ArenaMap],
    results_by_planner: dict[str, list],
    goal_tolerance_m: float,
    columns: int = 5,
    maps: dict[int, tuple] | None = None,
) -> Path:
    """PNG of every episode; ``results_by_planner``: planner name -> EpisodeResult list (same
    seeds);
    ``maps``: layout -> (int8 [Y, X] occupancy percent, -1 unknown; origin (x, y); cell size),
    drawn underneath."""
    seeds = sorted(
        {r.setup.layout_seed for results in results_by_planner.values() for r in results}
    )
    rows = max(1, math.ceil(len(seeds) / columns))
    cols = min(columns, max(1, len(seeds)))
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 3.1 * rows + 0.4), squeeze=False)
    for ax in axes.flat[len(seeds) :]:
        ax.axis("off")
    for ax, seed in zip(axes.flat, seeds, strict=False):
        _draw_arena(ax, arenas[seed])
        if maps and seed in maps:
            percent, origin, cell = maps[seed]
            extent = (
                origin[0],
                origin[0] + percent.shape[1] * cell,
                origin[1],
                origin[1] + percent.shape[0] * cell,
            )
            ax.imshow(
                np.ma.masked_less(percent, 0),
                origin="lower",
                extent=extent,
                cmap="coolwarm",
                vmin=0,
                vmax=100,
                alpha=0.45,
                interpolation="nearest",
                zorder=0,
            )
            h = arenas[seed].half_size_m
            ax.set_xlim(-h - 0.1, h + 0.1)
            ax.set_ylim(-h - 0.1, h + 0.1)
        for colour, (name, results) in zip(
            PLANNER_COLOURS, results_by_planner.items(), strict=False
        ):
            for r in (r for r in results if r.setup.layout_seed == seed):
                xy = r.path_xyyaw[:, :2]
                ax.plot(xy[:, 0], xy[:, 1], color=colour, lw=1.3, label=name)
                if not r.reached:
                    ax.plot(*xy[-1], marker="x", color=colour, ms=7, mew=2)
                start, goal = r.setup.start_xyyaw, r.setup.goal_xyyaw
        ax.plot(start[0], start[1], "o", color="k", ms=4)
        ax.plot(goal[0], goal[1], "*", color="gold", mec="k", ms=11)
        ax.add_patch(
            patches.Circle(goal[:2], goal_tolerance_m, fill=False, ls="--", ec="k", lw=0.8)
        )
        outcome = " ".join(
            f"{name[:3]}:{'ok' if r.reached else 'x'}{'*' if r.collided else ''}"
            for name, results in results_by_planner.items()
            for r in results
            if r.setup.layout_seed == seed
        )
        ax.set_title(f"layout {seed}\n{outcome}", fontsize=8)
    handles = [
        plt.Line2D([], [], color=c, lw=2) for c in PLANNER_COLOURS[: len(results_by_planner)]
    ]
    fig.legend(
        handles,
        [f"MPPI on {n}" for n in results_by_planner],
        loc="upper center",
        ncol=len(handles),
        fontsize=9,
        frameon=False,
    )
    fig.text(
        0.5,
        0.005,
        "dot: start, star: goal (dashed: tolerance), x: gave up; '*': touched an obstacle\n"
        "shading: the learned planner's occupancy map at the end (blue free, red blocked)",
        ha="center",
        fontsize=7,
    )
    height = 3.1 * rows + 0.4
    fig.tight_layout(rect=(0, 0.4 / height, 1, 1 - 0.5 / height))
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
