"""The data doctor: checks a bag's streams before they become training data.

Why: a robot's bags fail in quiet ways that poison a world model without any error. A driver
publishing the twist in the odometry frame instead of the body frame (it happens) teaches the
model that turning changes the speed; a command topic at 1 Hz with a 0.5 s timeout zeroes half
the commands; a camera that froze for a minute pairs one image with a minute of motion. Each
check here looks at one such failure, on the streams the loader has already read, and gives
one line naming the bag, the topic and what is wrong (and what to do about it).

``error`` problems make the bag unusable (``train`` and ``eval`` stop, unless ``--skip-bad``
drops such bags); ``warning`` problems are printed and the bag is used. The odometry twist can
be rebuilt from the poses (:func:`twist_from_poses`, ``--twist-from-poses``), which clears the
twist check. Pure NumPy; the loader (core/data/dataset.py) calls :func:`check_streams` and
:func:`check_frames`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import wrap_angle_np


@dataclass(frozen=True)
class DoctorConfig:
    max_gap_s: float = 0.5  # a stream silent for longer has a gap
    twist_abs_tolerance_mps: float = 0.05  # median |twist - pose-derived|, linear
    twist_abs_tolerance_radps: float = 0.15  # ... angular
    twist_rel_tolerance: float = 0.25  # ... or this share of the median pose-derived rate
    command_timeout_s: float = 0.5  # a command older than this is zeroed by the loader
    blank_std: float = 2.0  # a black or white frame whose pixel std is below this is blank
    frozen_mean_abs_diff: float = 0.05  # consecutive frames closer than this are identical
    frozen_run: int = 5  # this many identical frames in a row while moving: a frozen camera
    textured_std: float = 20.0  # ... showing a textured view (a close wall may not change)
    bad_frame_fraction: float = 0.1  # more blank or frozen frames than this: an error


DEFAULT_DOCTOR = DoctorConfig()


@dataclass(frozen=True)
class Problem:
    bag: str
    topic: str
    severity: str  # "error" or "warning"
    check: str  # "twist", "stamps", "gaps", "command_rate", "images", "camera_info"
    text: str

    def line(self) -> str:
        return f"{self.severity}: {self.bag}: {self.topic}: {self.text}"


def pose_rates(odom_t_ns: np.ndarray, poses_n3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Body-frame (v, w) [N, 2] from consecutive poses (forward displacement in the frame of
    the earlier pose / dt, heading change / dt), at the midpoints [N] (ns); N = samples - 1."""
    t = np.asarray(odom_t_ns, dtype=np.int64)
    poses = np.asarray(poses_n3, dtype=np.float64)
    dt = np.maximum(np.diff(t), 1) * 1e-9
    d = poses[1:, :2] - poses[:-1, :2]
    yaw = poses[:-1, 2]
    forward = d[:, 0] * np.cos(yaw) + d[:, 1] * np.sin(yaw)
    turn = wrap_angle_np(poses[1:, 2] - poses[:-1, 2])
    mid = t[:-1] + (t[1:] - t[:-1]) // 2
    return np.stack([forward / dt, turn / dt], axis=1), mid


def twist_from_poses(odom_t_ns: np.ndarray, poses_n3: np.ndarray) -> np.ndarray:
    """The body twist (v, w) [N, 2] at each odometry stamp, rebuilt from the poses: the rates
    between neighbouring samples, interpolated to the sample times (``--twist-from-poses``)."""
    t = np.asarray(odom_t_ns, dtype=np.int64)
    if len(t) < 2:
        return np.zeros((len(t), 2))
    rates, mid = pose_rates(t, poses_n3)
    return np.stack([np.interp(t, mid, rates[:, k]) for k in range(2)], axis=1)


def _gaps(t_ns: np.ndarray, max_gap_s: float) -> tuple[int, float]:
    if len(t_ns) < 2:
        return 0, 0.0
    d = np.diff(np.sort(t_ns)) * 1e-9
    big = d > max_gap_s
    return int(big.sum()), float(d[big].max()) if big.any() else 0.0


def check_streams(
    bag: str,
    topics: dict[str, str],
    image_ns: np.ndarray,
    odom_t_ns: np.ndarray,
    odom_n5: np.ndarray,
    odom_order_ns: np.ndarray,
    cmd_t_ns: np.ndarray,
    config: DoctorConfig = DoctorConfig(),
    twist_rebuilt: bool = False,
    episode_starts_ns: np.ndarray | None = None,
) -> list[Problem]:
    """Twist against poses, stamp order and gaps, command rate. ``odom_n5`` rows are
    (x, y, yaw, v, w) at ``odom_t_ns`` (sorted); ``odom_order_ns`` the stamps in the order the
    bag holds them; ``topics`` maps "image", "odom", "command" to topic names."""
    problems: list[Problem] = []

    def add(role: str, severity: str, check: str, text: str) -> None:
        problems.append(Problem(bag, topics.get(role, role), severity, check, text))

    # 1. the odometry twist against the poses
    if len(odom_t_ns) >= 10 and not twist_rebuilt:
        rates, _ = pose_rates(odom_t_ns, odom_n5[:, :3])
        dt = np.diff(odom_t_ns) * 1e-9
        keep = (dt > 0) & (dt <= config.max_gap_s)
        reported = 0.5 * (odom_n5[1:, 3:5] + odom_n5[:-1, 3:5])
        if keep.sum() >= 10:
            rates, reported = rates[keep], reported[keep]
            for axis, name, tolerance in (
                (0, "linear", config.twist_abs_tolerance_mps),
                (1, "angular", config.twist_abs_tolerance_radps),
            ):
                error = float(np.median(np.abs(reported[:, axis] - rates[:, axis])))
                scale = float(np.median(np.abs(rates[:, axis])))
                if error > max(tolerance, config.twist_rel_tolerance * scale):
                    add(
                        "odom",
                        "error",
                        "twist",
                        f"{name} twist disagrees with the pose changes (median error {error:.3f}"
                        f" vs a median rate of {scale:.3f}{_twist_hint(odom_n5, keep)}); fix "
                        "the driver or load with --twist-from-poses",
                    )
                    break
    # 2. stamps: order and gaps
    backwards = int(np.sum(np.diff(odom_order_ns) < 0)) if len(odom_order_ns) > 1 else 0
    if backwards:
        add(
            "odom",
            "warning",
            "stamps",
            f"{backwards} stamp(s) go backwards (a clock jump or a reordered recording); the "
            "loader sorts them",
        )
    for role, stamps in (("image", image_ns[image_ns >= 0]), ("odom", odom_t_ns)):
        count, longest = _gaps(stamps, config.max_gap_s)
        if episode_starts_ns is not None and len(episode_starts_ns):
            count = max(0, count - (len(episode_starts_ns) - 1))  # listed episode boundaries
        if count:
            add(
                role,
                "warning",
                "gaps",
                f"{count} gap(s) longer than {config.max_gap_s:g} s (longest {longest:.1f} s); "
                "episodes are cut there",
            )
    # 3. command rate
    if len(cmd_t_ns) >= 2:
        period = float(np.median(np.diff(np.sort(cmd_t_ns)))) * 1e-9
        if period > config.command_timeout_s:
            add(
                "command",
                "error",
                "command_rate",
                f"commands arrive every {period:.2f} s (median) but are held only "
                f"{config.command_timeout_s:g} s: most samples would get a zero command "
                "(record the command topic at its real rate)",
            )
    elif len(odom_t_ns) >= 2:
        add("command", "error", "command_rate", f"{len(cmd_t_ns)} command message(s) in the bag")
    if len(cmd_t_ns) and len(odom_t_ns) >= 2:
        moving = (
            np.hypot(*np.diff(odom_n5[:, :2], axis=0).T)
            / np.maximum(np.diff(odom_t_ns) * 1e-9, 1e-6)
            > 0.05
        )
        mid = odom_t_ns[1:]
        latest = np.searchsorted(np.sort(cmd_t_ns), mid, side="right") - 1
        age = np.where(
            latest >= 0, (mid - np.sort(cmd_t_ns)[np.clip(latest, 0, None)]) * 1e-9, 1e9
        )
        orphan = moving & (age > config.command_timeout_s)
        if moving.sum() >= 10 and orphan.mean() > 0.2:
            add(
                "command",
                "warning",
                "command_rate",
                f"the robot moves without a fresh command in {100 * orphan.mean():.0f} % of the "
                "odometry samples (is another topic driving it?)",
            )
    return problems


def _twist_hint(odom_n5: np.ndarray, keep: np.ndarray) -> str:
    """Whether the reported linear twist looks like the odometry-frame velocity (a common
    driver mistake) or like zero."""
    reported = np.abs(odom_n5[:, 3])
    if float(np.median(reported)) < 1e-4:
        return "; the reported twist is zero"
    return "; is the twist in the odometry frame rather than the body frame (child_frame_id)?"


def check_frames(
    bag: str,
    topic: str,
    frames_n: list[np.ndarray],
    moved_n: np.ndarray,
    config: DoctorConfig = DoctorConfig(),
    change_n: np.ndarray | None = None,
) -> list[Problem]:
    """Image sanity on the frames the loader decoded (in time order): blank frames (black or
    white without texture: a covered, dead or blinded camera) and frozen ones (at least
    ``frozen_run`` identical frames in a row while the robot moved between them, ``moved_n``
    bool per frame, of a textured view: a wall filling the view may look the same for a
    while). ``change_n``: each frame's change from the one before at the camera's own
    resolution (NaN where unknown or the same message again); without it the decoded frames
    are compared."""
    if not frames_n:
        return []
    problems = []
    frames = [np.asarray(f, dtype=np.float32) for f in frames_n]
    blank = np.array(
        [float(f.std()) < config.blank_std and not 8.0 <= float(f.mean()) <= 247.0 for f in frames]
    )
    same = np.zeros(len(frames), bool)
    if change_n is not None:
        change = np.asarray(change_n, dtype=np.float64)[: len(frames)]
        same[: len(change)] = np.nan_to_num(change, nan=np.inf) < config.frozen_mean_abs_diff
    else:
        for k in range(1, len(frames)):
            if frames[k].shape == frames[k - 1].shape:
                change_k = float(np.abs(frames[k] - frames[k - 1]).mean())
                same[k] = change_k < config.frozen_mean_abs_diff
    frozen = np.zeros(len(frames), bool)
    moved = np.asarray(moved_n, bool)[: len(same)]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], same.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        textured = float(_picture(frames[start]).std()) >= config.textured_std
        if textured and int(moved[start:stop].sum()) >= config.frozen_run - 1:
            frozen[start - 1 : stop] = True
    for flags, what in (
        (blank, "blank (no texture)"),
        (frozen, "frozen (unchanged while moving)"),
    ):
        share = float(flags.mean())
        if share > 0:
            problems.append(
                Problem(
                    bag,
                    topic,
                    "error" if share > config.bad_frame_fraction else "warning",
                    "images",
                    f"{int(flags.sum())} of {len(flags)} frames {what}",
                )
            )
    return problems


def _picture(frame: np.ndarray) -> np.ndarray:
    """The frame without letterbox bars (all-black rows and columns at its edges): the bars
    against the picture would make any view look textured."""
    lit = frame.max(axis=-1) > 0 if frame.ndim == 3 else frame > 0
    rows, cols = np.flatnonzero(lit.any(axis=1)), np.flatnonzero(lit.any(axis=0))
    if len(rows) == 0:
        return frame
    return frame[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def check_episode_frames(
    bag: str,
    topic: str,
    episodes: list,
    config: DoctorConfig = DEFAULT_DOCTOR,
    changes: list[np.ndarray] | None = None,
) -> list[Problem]:
    """:func:`check_frames` on the frames a bag's episodes use (a frame counts as "moved"
    when the robot moved more than 2 cm or 3 degrees since the previous sample)."""
    frames, moved = [], []
    for e in episodes:
        step = np.zeros(len(e), bool)
        if len(e) > 1:
            d = np.diff(np.asarray(e.poses_t3), axis=0)
            step[1:] = (np.hypot(d[:, 0], d[:, 1]) > 0.02) | (np.abs(d[:, 2]) > 0.05)
        frames.extend(e.images_thw3)
        moved.append(step)
    return check_frames(
        bag,
        topic,
        frames,
        np.concatenate(moved) if moved else np.zeros(0, bool),
        config,
        np.concatenate(changes) if changes else None,
    )
