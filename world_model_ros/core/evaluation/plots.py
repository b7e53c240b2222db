"""The evaluation report's plots: mean position error against the horizon, and example
rollouts of every model drawn over the top-down arena map.

Apart from the scoring (evaluate.py) and the Markdown/JSON (report.py) because it is the one
part that needs matplotlib (imported only when a plot is drawn, with the Agg backend), and
its choices (colours, which windows make telling examples) are about pictures, not metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.windows import WindowSet
from .evaluate import CONSTANT_VELOCITY, KINEMATIC, EvalConfig
from .metrics import position_errors

MODEL_STYLE = {CONSTANT_VELOCITY: ("tab:gray", ":"), KINEMATIC: ("tab:orange", "--")}


def _style(name: str, learned: str | None = None) -> tuple[str, str]:
    if name in MODEL_STYLE:
        return MODEL_STYLE[name]
    return ("tab:blue", "-") if name == learned or learned is None else ("tab:purple", "-.")


def plot_error_vs_horizon(
    results: dict[str, Any], windows: WindowSet, dt_s: float, path: Path, learned: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    everything = windows.gather(torch.arange(len(windows)))
    true = everything.poses_bh3.numpy()
    contact = (everything.contacts_bh.numpy() > 0.5).any(axis=1)
    t = dt_s * np.arange(1, windows.horizon + 1)
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for axis, (mask, title) in zip(
        axes,
        ((np.ones(len(true), bool), "all windows"), (contact, "contact windows")),
        strict=False,
    ):
        for name, pred in results["predictions"].items():
            if mask.any():
                error = position_errors(pred.poses_bh3[mask], true[mask]).mean(axis=0)
                colour, line = _style(name, learned)
                axis.plot(t, error, line, color=colour, label=name)
        axis.set_title(f"{title} (n={int(mask.sum())})")
        axis.set_xlabel("horizon (s)")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("mean position error (m)")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def plot_example_rollouts(
    results: dict[str, Any],
    windows: WindowSet,
    config: EvalConfig,
    dt_s: float,
    path: Path,
    learned: str,
) -> None:
    """A few contact windows drawn over the top-down arena map: truth and every model's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, Polygon, Rectangle

    everything = windows.gather(torch.arange(len(windows)))
    true = everything.poses_bh3.numpy()
    start = everything.start_pose_b3.numpy()
    contact = np.asarray((everything.contacts_bh.numpy() > 0.5).any(axis=1))
    episode = everything.episode_b.numpy()
    kinematic = results["predictions"].get(KINEMATIC)
    # The most telling examples: contact windows in which the robot really drives (>= 0.25 m) and
    # the kinematic model is most wrong, one per episode.
    order = np.argsort(
        -(position_errors(kinematic.poses_bh3, true)[:, -1] if kinematic else np.zeros(len(true)))
    )
    moved = np.linalg.norm(true[:, -1, :2] - start[:, :2], axis=1) >= 0.25
    chosen, seen = [], set()
    for index in order:
        if (
            contact[index]
            and moved[index]
            and episode[index] not in seen
            and windows.arenas[episode[index]] is not None
        ):
            chosen.append(int(index))
            seen.add(episode[index])
        if len(chosen) == config.example_rollouts:
            break
    if not chosen:
        chosen = [int(i) for i in order[: config.example_rollouts]]
    columns = max(1, min(2, len(chosen)))
    rows = max(1, (len(chosen) + columns - 1) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 5 * rows), squeeze=False)
    for axis in axes.flat[len(chosen) :]:
        axis.axis("off")
    for axis, index in zip(axes.flat, chosen, strict=False):
        arena = windows.arenas[episode[index]]
        if arena is not None:
            h = arena.half_size_m
            axis.add_patch(Rectangle((-h, -h), 2 * h, 2 * h, fill=False, lw=2, color="black"))
            for o in arena.obstacles:
                if o.kind == "cylinder":
                    axis.add_patch(Circle((o.x, o.y), o.hx, color="0.6"))
                else:
                    c, s = np.cos(o.yaw), np.sin(o.yaw)
                    corners = np.array(
                        [[o.hx, o.hy], [-o.hx, o.hy], [-o.hx, -o.hy], [o.hx, -o.hy]]
                    )
                    axis.add_patch(
                        Polygon(corners @ np.array([[c, s], [-s, c]]) + [o.x, o.y], color="0.6")
                    )
            axis.add_patch(
                Circle(
                    tuple(start[index, :2]), arena.robot_radius_m, fill=False, color="black", lw=1
                )
            )
        path_true = np.vstack([start[index, :2], true[index, :, :2]])
        axis.plot(path_true[:, 0], path_true[:, 1], "k-", lw=2.5, label="recorded")
        for name, pred in results["predictions"].items():
            xy = np.vstack([start[index, :2], pred.poses_bh3[index, :, :2]])
            colour, line = _style(name, learned)
            axis.plot(xy[:, 0], xy[:, 1], line, color=colour, lw=1.8, label=name)
            if name == learned and pred.position_var_bh is not None:
                sigma = np.sqrt(pred.position_var_bh[index, -1])
                axis.add_patch(
                    Circle(
                        pred.poses_bh3[index, -1, :2], 2 * sigma, fill=False, color=colour, ls=":"
                    )
                )
        everything_xy = np.vstack(
            [path_true] + [p.poses_bh3[index, :, :2] for p in results["predictions"].values()]
        )
        centre = 0.5 * (everything_xy.min(axis=0) + everything_xy.max(axis=0))
        half = max(
            0.6, 0.5 * float((everything_xy.max(axis=0) - everything_xy.min(axis=0)).max()) + 0.3
        )
        axis.set_xlim(centre[0] - half, centre[0] + half)
        axis.set_ylim(centre[1] - half, centre[1] + half)
        axis.set_aspect("equal")
        source = windows.episodes_meta[episode[index]]
        axis.set_title(
            f"layout {source['layout_seed']}, step {int(everything.start_b[index])}", fontsize=9
        )
    axes.flat[0].legend(fontsize=7, loc="best")
    figure.suptitle(
        f"{windows.horizon * dt_s:.0f} s rollouts under the recorded commands (contact windows)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=70)
    plt.close(figure)
