"""The encoder's history input at run time: the model steps before a frame, what the robot was
told and what it did, sampled by the rule the bag loader uses (core/data/resample.py).

A model with ``history_steps`` K (core/model/latent_model.py) was trained on, for each frame,
the K steps before it: the newest command at or before each step time (zero once older than
the command timeout, as a base controller stops) and the odometry twist interpolated there
(core/data/windows.WindowSet.history_at). The running twin has the same two things, the
commands it heard (``CommandLog``) and its odometry buffer (``OdomBuffer``), so it builds the
same input here. Where the buffer does not reach back far enough, its oldest twist stands in,
as an episode's first step does in training.
"""

from __future__ import annotations

import numpy as np

from .domain import CommandLog
from .sync import OdomBuffer

# A command older than this no longer holds: the bag loader's default (core/data/dataset.py,
# ``command_timeout_s``), for callers with no timeout of their own (the in-process demo)
COMMAND_TIMEOUT_S = 0.5


def motion_history(
    stamp_s: float,
    steps: int,
    dt_s: float,
    commands: CommandLog,
    odometry: OdomBuffer,
    command_timeout_s: float,
    twist_now_2: np.ndarray,
) -> np.ndarray:
    """[steps, 4] float32, most recent first: (commanded v, w, measured v, w) at ``stamp_s -
    k dt_s`` for k = 1 .. steps. ``twist_now_2`` stands in when no odometry is buffered."""
    out = np.empty((steps, 4), np.float32)
    for k in range(1, steps + 1):
        t_s = stamp_s - k * dt_s
        out[k - 1, :2] = commands.held(t_s, command_timeout_s)
        out[k - 1, 2:] = odometry.twist_at(t_s, twist_now_2)
    return out
