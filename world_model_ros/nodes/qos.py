"""QoS profiles shared by the nodes, chosen for what each stream is.

Odometry and commands subscribe best-effort: a best-effort subscription matches both reliable
and best-effort publishers. The camera is the exception: measured here, a best-effort
subscription to a reliable VGA publisher in another process received 1 frame in 20 with Fast
DDS defaults (a 0.9 MB frame goes out as UDP fragments and one lost fragment loses the frame;
reliable delivery repairs it), so the camera subscribes reliable, depth 1 (only the newest frame:
the node never works through a backlog). For a best-effort camera driver set the standard
override ``qos_overrides./camera/image_raw.subscription.reliability: best_effort`` (every
subscription accepts ``qos_overrides.<topic>.subscription.{reliability,depth,history}``).
"""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions

CAMERA_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
ODOM_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=50,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)
# Commands and plans: few, small, and every one matters, but drivers publish them either way.
COMMAND_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)
# Outputs: reliable, so both reliable and best-effort subscribers (rviz, the planner) match.
OUTPUT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
QOS_OVERRIDES = QoSOverridingOptions.with_default_policies()
