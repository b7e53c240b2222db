"""QoS profiles shared by the nodes, chosen for what each stream is, and the camera subscription
that matches any publisher.

Odometry and commands subscribe best-effort: a best-effort subscription matches both reliable
and best-effort publishers. The camera is the exception. A best-effort subscription matches any
camera, but measured here it received 2 of 300 VGA frames from a reliable publisher in another
process with Fast DDS defaults (a 0.9 MB frame goes out as 64 KB fragments and one lost fragment
loses the frame; only reliable delivery repairs them), while a reliable subscription is never
matched by a best-effort publisher (sensor-data QoS, common for camera drivers). So the camera
subscription adapts to what the publishers offer, as rosbag2 does: reliable while every
publisher is reliable (or there is none yet), best effort as soon as one offers only best
effort, and reliable again when those are gone. It reacts at once to an incompatible publisher
(the middleware's incompatible-QoS event) and re-checks the publishers every second. The standard
override ``qos_overrides.<topic>.subscription.reliability`` pins it (``reliable`` or
``best_effort``; default ``auto``); ``depth`` and ``history`` overrides work as everywhere.

A best-effort publisher delivers large frames intact only with a transport that carries them
whole, which is the publisher's setting: on one machine a Fast DDS shared-memory segment larger
than a frame (``config/fastdds_shm_large.xml``; measured with bench/camera_qos.py: 600 of 600 VGA
frames predicted, against 169 with Fast DDS defaults).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import ParameterAlreadyDeclaredException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions, QoSPolicyKind

from world_model_ros.core.config import ConfigError

try:
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks

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


RELIABILITY_CHOICES = {
    "auto": None,
    "reliable": ReliabilityPolicy.RELIABLE,
    "best_effort": ReliabilityPolicy.BEST_EFFORT,
}


def offered_reliability(node: Node, topic: str) -> ReliabilityPolicy | None:
    """What a subscription needs to match every publisher on ``topic``; ``None``: no publisher."""
    offers = [info.qos_profile.reliability for info in node.get_publishers_info_by_topic(topic)]
    if not offers:
        return None
    if any(offer == ReliabilityPolicy.BEST_EFFORT for offer in offers):
        return ReliabilityPolicy.BEST_EFFORT
    return ReliabilityPolicy.RELIABLE


class AdaptiveSubscription:
    """A subscription whose reliability follows the publishers (module docstring says why).

    Behaves like the rclpy subscription it wraps for ``topic_name``; call ``destroy()`` instead
    of ``node.destroy_subscription``. Switching re-creates the subscription (a frame in flight
    may be lost then); everything runs on the node's executor.
    """

    def __init__(
        self,
        node: Node,
        msg_type: Any,
        topic: str,
        callback: Callable[[Any], None],
        qos: QoSProfile,
        *,
        callback_group: Any = None,
        check_period_s: float = 1.0,
    ) -> None:
        self._node = node
        self._msg_type = msg_type
        self._topic = topic
        self._callback = callback
        self._callback_group = callback_group
        self._qos = copy.copy(qos)  # rclpy applies overrides to the profile in place
        resolved = node.resolve_topic_name(topic)
        self.pinned = self._pinned_reliability(resolved)
        offered = None if self.pinned else offered_reliability(node, resolved)
        self.reliability: ReliabilityPolicy = self.pinned or offered or self._qos.reliability
        self._sub = self._create()
        # Switch outside the event callback: the event belongs to the subscription replaced.
        self._wake = node.create_guard_condition(self._update)
        self._timer = node.create_timer(
            check_period_s, self._update, clock=Clock(clock_type=ClockType.STEADY_TIME)
        )

    @property
    def topic_name(self) -> str:
        return self._sub.topic_name

    def destroy(self) -> None:
        self._node.destroy_timer(self._timer)
        self._node.destroy_guard_condition(self._wake)
        self._node.destroy_subscription(self._sub)

    def _pinned_reliability(self, resolved_topic: str) -> ReliabilityPolicy | None:
        name = f"qos_overrides.{resolved_topic}.subscription.reliability"
        descriptor = ParameterDescriptor(
            description=f"reliability of the subscription to {resolved_topic}: auto (follow "
            "the publishers: reliable unless one offers only best effort), reliable, best_effort",
            read_only=True,
        )
        try:
            value = self._node.declare_parameter(name, "auto", descriptor).value
        except ParameterAlreadyDeclaredException:  # a lifecycle node configured again
            value = self._node.get_parameter(name).value
        if value not in RELIABILITY_CHOICES:
            raise ConfigError(
                f"parameter {name}: {value!r} is not one of {', '.join(RELIABILITY_CHOICES)}"
            )
        return RELIABILITY_CHOICES[value]

    def _create(self) -> Any:
        qos = copy.copy(self._qos)
        qos.reliability = self.reliability
        return self._node.create_subscription(
            self._msg_type,
            self._topic,
            self._callback,
            qos,
            callback_group=self._callback_group,
            event_callbacks=SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible),
            qos_overriding_options=QoSOverridingOptions(
                [QoSPolicyKind.HISTORY, QoSPolicyKind.DEPTH]
            ),
        )

    def _on_incompatible(self, _event: Any) -> None:
        if self.pinned is not None:
            self._node.get_logger().warning(
                f"'{self.topic_name}': a publisher's QoS is incompatible with the pinned "
                f"reliability {self.pinned.name.lower()} (qos_overrides); its messages are "
                "not received",
                throttle_duration_sec=10.0,
            )
            return
        self._wake.trigger()

    def _update(self) -> None:
        if self.pinned is not None:
            return
        wanted = offered_reliability(self._node, self.topic_name)
        if wanted is None or wanted == self.reliability:
            return
        self._node.get_logger().info(
            f"'{self.topic_name}': publishers offer {wanted.name.lower()}; subscribing "
            f"{wanted.name.lower()} (was {self.reliability.name.lower()})"
        )
        self._node.destroy_subscription(self._sub)
        self.reliability = wanted
        self._sub = self._create()


def create_camera_subscription(
    node: Node,
    msg_type: Any,
    topic: str,
    callback: Callable[[Any], None],
    *,
    callback_group: Any = None,
) -> AdaptiveSubscription:
    """The camera subscription of every node: newest frame only (depth 1), matching any
    publisher's reliability (module docstring)."""
    return AdaptiveSubscription(
        node, msg_type, topic, callback, CAMERA_QOS, callback_group=callback_group
    )
