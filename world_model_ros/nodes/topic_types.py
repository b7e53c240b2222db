"""Endpoints of one of our topics that use another message type: the graph's silent failure.

DDS connects a publisher and a subscription only when their types agree. A planner publishing
geometry_msgs/Twist to a base that subscribes geometry_msgs/TwistStamped (ros2_control's
diff_drive_controller does by default since Jazzy; a robot file's ``cmd_vel_stamped``) sends
every command into the void, and neither side reports an error: the robot stands still, and a
twin listening with the wrong type never sees a command. So the nodes ask the graph on their
diagnostics timer (a local query, no network traffic) and say it once per peer, naming the
parameter that fixes it; the diagnostics keep saying it while it lasts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rclpy.node import Node


@dataclass(frozen=True)
class TypeMismatch:
    topic: str
    peer: str  # fully qualified node name
    peer_type: str
    our_type: str
    peer_role: str  # "subscribes" or "publishes"

    def sentence(self, fix: str) -> str:
        return (
            f"{self.topic}: {self.peer} {self.peer_role} {self.peer_type} but this node "
            f"{'publishes' if self.peer_role == 'subscribes' else 'subscribes'} "
            f"{self.our_type}, so nothing passes between them ({fix})"
        )


class TypeMismatchWatch:
    """Watches the peers of one endpoint of ours (``endpoint``: a publisher or subscription)."""

    def __init__(self, node: Node, endpoint, our_type: str, fix: str):
        self._node = node
        self._endpoint = endpoint
        self._our_type = our_type
        self._fix = fix
        self._said: set[tuple[str, str]] = set()
        self._publisher = hasattr(endpoint, "publish")

    def check(self, warn: Callable[[str], None] | None = None) -> list[str]:
        """The current mismatches as sentences; each new one is also passed to ``warn`` (by
        default the node's logger) once."""
        topic = self._endpoint.topic_name
        node = self._node
        peers = (
            node.get_subscriptions_info_by_topic(topic)
            if self._publisher
            else node.get_publishers_info_by_topic(topic)
        )
        me = node.get_fully_qualified_name()
        found = []
        for info in peers:
            if info.node_name.startswith("_NODE_NAME_UNKNOWN"):
                continue  # discovered before its node's name: named at the next check
            name = f"{info.node_namespace.rstrip('/')}/{info.node_name}"
            if info.topic_type == self._our_type or name == me:
                continue
            role = "subscribes" if self._publisher else "publishes"
            found.append(TypeMismatch(topic, name, info.topic_type, self._our_type, role))
        sentences = []
        for mismatch in found:
            sentence = mismatch.sentence(self._fix)
            sentences.append(sentence)
            key = (mismatch.peer, mismatch.peer_type)
            if key not in self._said:
                self._said.add(key)
                (warn or node.get_logger().warning)(sentence)
        return sentences


def command_type_watch(node: Node, endpoint, stamped: bool) -> TypeMismatchWatch:
    """The watch on a ``cmd_vel`` endpoint of a node with the ``cmd_vel_stamped`` setting."""
    ours = "geometry_msgs/msg/TwistStamped" if stamped else "geometry_msgs/msg/Twist"
    return TypeMismatchWatch(
        node, endpoint, ours, f"set cmd_vel_stamped: {str(not stamped).lower()} to match"
    )
