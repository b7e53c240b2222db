"""Warn when another node with this node's fully qualified name is on the ROS graph.

ROS 2 lets two nodes share a name, and nothing then tells them apart: a parameter change or a
service call (``~/reload_model``, ``~/reset``) reaches whichever answers, or both, and their
logs and diagnostics interleave under one name. A second ``world_model_node`` started by
mistake beside the first would silently double the camera load and answer a reload twice.
Discovery takes a moment, so the graph is checked on the steady clock every ``period_s`` for
the node's whole life: a namesake that appears later is reported too, once per appearance.
"""

from __future__ import annotations

from rclpy.clock import Clock, ClockType
from rclpy.node import Node

CHECK_PERIOD_S = 2.0


def namesakes(node: Node) -> int:
    """How many other nodes on the graph have ``node``'s fully qualified name."""
    mine = node.get_fully_qualified_name()
    names = node.get_node_names_and_namespaces()
    same = sum(1 for name, ns in names if f"{ns.rstrip('/')}/{name}" == mine)
    return max(0, same - 1)


def watch_for_namesakes(node: Node, period_s: float = CHECK_PERIOD_S) -> None:
    """Check the graph every ``period_s`` (steady clock) and log a warning when another node
    with the same fully qualified name appears (again after it had gone)."""
    state = {"reported": 0}

    def check() -> None:
        try:
            others = namesakes(node)
        except Exception:  # noqa: BLE001 - a graph query during shutdown must not kill the node
            return
        if others and others != state["reported"]:
            node.get_logger().warning(
                f"{others} other node(s) named '{node.get_fully_qualified_name()}' are on the "
                "graph: parameter changes and service calls reach them too, and their logs and "
                "diagnostics mix with these. Give each a unique name (--ros-args -r "
                "__node:=<name>) or namespace (-r __ns:=/<robot>)"
            )
        state["reported"] = others

    node.create_timer(period_s, check, clock=Clock(clock_type=ClockType.STEADY_TIME))
    check()
