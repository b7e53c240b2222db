"""A picture of what was recorded: a contact sheet of camera frames beside a top-down map.

The map draws the arena walls, each obstacle in its own colour (the colour the camera sees),
every episode's driven path, its start (circle) and where the robot touched something (red
crosses), so a user can check at a glance that the data cover the arena and hold contacts.
Works from the recorder's output or from any loaded
:class:`~world_model_ros.core.data.episodes.Episode`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Circle, Polygon, Rectangle  # noqa: E402

from ..core.data.episodes import ArenaMap, Episode  # noqa: E402


def draw_arena(ax, arena: ArenaMap, colours: Sequence[Sequence[float]] | None = None) -> None:
    """Walls and obstacle footprints on a matplotlib axis (metres, odom frame, x right, y up)."""
    h = arena.half_size_m
    ax.add_patch(Rectangle((-h, -h), 2 * h, 2 * h, fill=False, lw=3, ec="0.3"))
    for index, o in enumerate(arena.obstacles):
        colour = (
            tuple(colours[index])
            if colours is not None and index < len(colours)
            else (0.5, 0.5, 0.5)
        )
        if o.kind == "cylinder":
            ax.add_patch(Circle((o.x, o.y), o.hx, fc=colour, ec="k", lw=0.8))
        else:
            c, s = math.cos(o.yaw), math.sin(o.yaw)
            corners = [
                (o.x + c * dx - s * dy, o.y + s * dx + c * dy)
                for dx, dy in ((-o.hx, -o.hy), (o.hx, -o.hy), (o.hx, o.hy), (-o.hx, o.hy))
            ]
            ax.add_patch(Polygon(corners, closed=True, fc=colour, ec="k", lw=0.8))
    ax.set_xlim(-h - 0.2, h + 0.2)
    ax.set_ylim(-h - 0.2, h + 0.2)
    ax.set_aspect("equal")
    ax.set_xlabel("x [m] (odom)")
    ax.set_ylabel("y [m]")


def write_preview(
    path: Path,
    frames: Sequence[np.ndarray],
    paths_t3: Sequence[np.ndarray],
    contacts_t: Sequence[np.ndarray | None],
    arena: ArenaMap | None,
    colours: Sequence[Sequence[float]] | None = None,
    title: str = "",
    columns: int = 6,
) -> Path:
    """Write the PNG: up to ``4 * columns`` frames (in time order) and the map. Returns
    ``path``."""
    frames = list(frames)[: 4 * columns]
    rows = max(1, math.ceil(len(frames) / columns))
    figure = plt.figure(figsize=(2.0 * columns + 6.5, max(6.0, 2.0 * rows)), dpi=100)
    grid = figure.add_gridspec(rows, columns + 3)
    for index, frame in enumerate(frames):
        ax = figure.add_subplot(grid[index // columns, index % columns])
        ax.imshow(frame, interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(f"#{index}", fontsize=7)
    ax = figure.add_subplot(grid[:, columns:])
    if arena is not None:
        draw_arena(ax, arena, colours)
    else:
        ax.set_aspect("equal")
    cmap = plt.get_cmap("viridis")
    for number, (poses, contacts) in enumerate(zip(paths_t3, contacts_t, strict=False)):
        poses = np.asarray(poses)
        if len(poses) == 0:
            continue
        colour = cmap(number / max(1, len(paths_t3) - 1))
        ax.plot(poses[:, 0], poses[:, 1], "-", lw=1.0, color=colour, label=f"episode {number}")
        ax.plot(poses[0, 0], poses[0, 1], "o", color=colour, ms=6, mec="k")
        if contacts is not None and np.any(contacts):
            hits = poses[np.asarray(contacts, bool)]
            ax.plot(hits[:, 0], hits[:, 1], "x", color="red", ms=4, mew=1.0)
    if len(paths_t3) <= 8:
        ax.legend(loc="upper right", fontsize=7, framealpha=0.7)
    ax.set_title("driven paths (o start, x contact)", fontsize=9)
    if title:
        figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def preview_episodes(
    path: Path,
    episodes: Sequence[Episode],
    colours: Sequence[Sequence[float]] | None = None,
    frames_total: int = 24,
    title: str = "",
) -> Path:
    """Contact sheet of loaded episodes (frames spread evenly over all of them)."""
    frames: list[np.ndarray] = []
    per_episode = max(1, frames_total // max(1, len(episodes)))
    for episode in episodes:
        picks = np.linspace(0, len(episode) - 1, num=min(per_episode, len(episode))).astype(int)
        frames.extend(episode.images_thw3[i] for i in picks)
    arena = next((e.arena for e in episodes if e.arena is not None), None)
    return write_preview(
        path,
        frames[:frames_total],
        [e.poses_t3 for e in episodes],
        [e.contacts_t for e in episodes],
        arena,
        colours,
        title,
    )
