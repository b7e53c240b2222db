"""sensor_msgs/LaserScan -> what the twin keeps of it: stamp, beam angles, ranges.

Apart from conversions.py (the twin's other messages) because it is the one input only a model
with a LiDAR input reads (core/data/scan_input.py); sim_messages.laser_scan_msg writes the
message this reads.
"""

from __future__ import annotations

import math

import numpy as np
from sensor_msgs.msg import LaserScan

from world_model_ros.core.data.scan_input import scan_beams
from world_model_ros.core.live.input_checks import InputError, require_frame_id
from world_model_ros.nodes.conversions import time_to_s

MAX_SCAN_BEAMS = 8192


def laser_scan(msg: LaserScan) -> tuple[float, np.ndarray, np.ndarray]:
    """sensor_msgs/LaserScan -> (stamp s, beam angles rad, ranges m with +inf where no return).

    Raises InputError: ``empty_frame_id``; ``bad_scan`` for no beams or more than
    MAX_SCAN_BEAMS, or a non-finite / zero angle_increment, angle_min or range limits. A range
    outside [range_min, range_max] (NaN and inf included) is no return, as drivers mean it.
    """
    require_frame_id(msg.header.frame_id)
    beams = len(msg.ranges)
    if not 0 < beams <= MAX_SCAN_BEAMS:
        raise InputError("bad_scan", f"{beams} beams (1 to {MAX_SCAN_BEAMS})")
    limits = (msg.angle_min, msg.angle_increment, msg.range_min, msg.range_max)
    if not all(math.isfinite(v) for v in limits) or msg.angle_increment == 0:
        raise InputError(
            "bad_scan",
            f"angle_min {msg.angle_min}, angle_increment {msg.angle_increment}, range "
            f"{msg.range_min}..{msg.range_max} (finite, increment non-zero)",
        )
    angles, ranges = scan_beams(
        msg.angle_min, msg.angle_increment, msg.range_min, msg.range_max, msg.ranges
    )
    return time_to_s(msg.header.stamp), angles, ranges
