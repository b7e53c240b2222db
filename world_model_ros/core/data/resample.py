"""Resampling a bag's timeline onto a grid of ``dt_s``: where the runs of camera frames are cut,
which frame stands for each grid time, odometry interpolated there, the command in force and
the newest contact flag.

Apart from the loader (dataset.py) and the bag reading (bag_reader.py) because it is the
alignment rule itself (the loader's module docstring states it), in NumPy on the arrays of the
timeline: nothing here knows a message type. Grid times without a usable frame or odometry are
counted by reason in the :class:`~.load_report.LoadReport`.
"""

from __future__ import annotations

import numpy as np

from .load_report import LoadReport


def plan_grid(
    timeline: dict,
    bounds_ns: np.ndarray,
    dt_s: float,
    max_gap_ns: int,
    slop_ns: int,
    report: LoadReport,
) -> list[dict]:
    """The grid of each run of camera frames (cut at gaps longer than ``max_gap_ns`` and at
    the episode starts ``bounds_ns``): the grid times, the nearest frame's ordinal, whether the
    sample is usable, and the interpolated pose and twist."""
    image_ns = timeline["image_ns"]
    usable = np.flatnonzero(image_ns >= 0)
    order = usable[np.argsort(image_ns[usable], kind="stable")]
    stamps = image_ns[order]
    if len(stamps) == 0:
        return []
    episode_of = (
        np.searchsorted(bounds_ns, stamps, side="right") - 1
    )  # -1: before any listed episode
    new_episode = np.diff(episode_of) != 0
    time_gap = np.diff(stamps) > max_gap_ns
    cuts = np.flatnonzero(time_gap | new_episode) + 1
    report.gaps += int(
        np.sum(time_gap & ~new_episode)
    )  # a gap at an episode boundary is by design
    plan = []
    dt_ns = int(round(dt_s * 1e9))
    for chunk in np.split(np.arange(len(stamps)), cuts):
        first, last = stamps[chunk[0]], stamps[chunk[-1]]
        grid = first + dt_ns * np.arange((last - first) // dt_ns + 1, dtype=np.int64)
        chunk_stamps = stamps[chunk]
        right = np.clip(np.searchsorted(chunk_stamps, grid), 0, len(chunk) - 1)
        left = np.clip(right - 1, 0, len(chunk) - 1)
        nearest = np.where(
            np.abs(chunk_stamps[left] - grid) <= np.abs(chunk_stamps[right] - grid),
            left,
            right,
        )
        valid = np.abs(chunk_stamps[nearest] - grid) <= slop_ns
        pose, twist, odom_ok = interpolate_odom(timeline, grid, max_gap_ns)
        for reason, count in (
            ("no_camera_frame_near_grid_time", int((~valid).sum())),
            ("no_odometry_around_grid_time", int((valid & ~odom_ok).sum())),
        ):
            if count:
                report.skipped[reason] += count
        valid &= odom_ok
        plan.append(
            {
                "grid": grid,
                "image_index": order[chunk[nearest]],
                "valid": valid,
                "pose": pose,
                "twist": twist,
                "episode": int(episode_of[chunk[0]]) if len(bounds_ns) else None,
            }
        )
    return plan


def interpolate_odom(timeline: dict, grid: np.ndarray, max_gap_ns: int):
    """(pose [N, 3], twist [N, 2], ok [N]) at the grid times: between the two odometry messages
    around each (at most ``max_gap_ns`` apart), or an exact one."""
    t, odom = timeline["odom_t"], timeline["odom"]
    n = len(grid)
    if len(t) == 0:
        return np.zeros((n, 3)), np.zeros((n, 2)), np.zeros(n, bool)
    right = np.searchsorted(t, grid, side="left")
    exact = (right < len(t)) & (t[np.clip(right, 0, len(t) - 1)] == grid)
    left = np.clip(right - 1, 0, len(t) - 1)
    right_c = np.clip(right, 0, len(t) - 1)
    inside = (right > 0) & (right < len(t)) & ((t[right_c] - t[left]) <= max_gap_ns)
    ok = exact | inside
    left = np.where(exact, right_c, left)
    span = np.maximum(t[right_c] - t[left], 1)
    alpha = np.where(exact, 0.0, np.clip((grid - t[left]) / span, 0.0, 1.0))[:, None]
    a, b = odom[left], odom[right_c]
    xy = a[:, 1:3] + alpha * (b[:, 1:3] - a[:, 1:3])
    dyaw = np.mod(b[:, 3] - a[:, 3] + np.pi, 2 * np.pi) - np.pi
    yaw = np.mod(a[:, 3] + alpha[:, 0] * dyaw + np.pi, 2 * np.pi) - np.pi
    twist = a[:, 4:6] + alpha * (b[:, 4:6] - a[:, 4:6])
    return np.column_stack([xy, yaw]), twist, ok


def commands_on_grid(
    timeline: dict, grid: np.ndarray, timeout_ns: int
) -> tuple[np.ndarray, np.ndarray]:
    """(commands [N, 2], stale [N]): the newest command at or before each grid time, zero once
    it is older than ``timeout_ns``."""
    t, vw = timeline["cmd_t"], timeline["cmd_vw"]
    if len(t) == 0:
        return np.zeros((len(grid), 2)), np.ones(len(grid), bool)
    latest = np.searchsorted(t, grid + 1000, side="right") - 1  # at or before (1 us tolerance)
    have = latest >= 0
    fresh = have & ((grid - t[np.clip(latest, 0, None)]) <= timeout_ns)
    commands = np.where(fresh[:, None], vw[np.clip(latest, 0, None)], 0.0)
    return commands, ~fresh


def contacts_on_grid(timeline: dict, grid: np.ndarray, max_gap_ns: int) -> np.ndarray | None:
    """The newest contact flag at each grid time (False once older than ``max_gap_ns``); None
    without a contact topic."""
    if not timeline["has_contact_topic"] or timeline["contact"] is None:
        return None
    t, flags = timeline["contact_t"], timeline["contact"]
    latest = np.searchsorted(t, grid + 1000, side="right") - 1
    fresh = (latest >= 0) & ((grid - t[np.clip(latest, 0, None)]) <= max_gap_ns)
    return np.where(fresh, flags[np.clip(latest, 0, None)], False)
