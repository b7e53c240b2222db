"""The test side of DDS tests: publish inputs, collect outputs, spin until something holds."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable

import rclpy
from conftest import wait_until
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile


class RosTestNode:
    def __init__(self, context: rclpy.Context, name: str = "test_harness"):
        self.node = Node(name, context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.received: dict[str, list[Any]] = defaultdict(list)
        self._publishers: dict[str, Any] = {}

    def publisher(self, msg_type: type, topic: str, qos: QoSProfile | int = 10):
        key = topic
        if key not in self._publishers:
            self._publishers[key] = self.node.create_publisher(msg_type, topic, qos)
        return self._publishers[key]

    def subscribe(self, msg_type: type, topic: str, qos: QoSProfile | int = 10) -> list[Any]:
        """Collect every message on ``topic`` into the returned list."""
        bucket = self.received[topic]
        self.node.create_subscription(msg_type, topic, bucket.append, qos)
        return bucket

    def spin(self, seconds: float) -> None:
        self.executor.spin_once(timeout_sec=seconds)

    def wait_for(
        self, condition: Callable[[], bool], timeout_s: float = 20.0, what: str = "condition"
    ) -> None:
        wait_until(condition, timeout_s, self.spin, what)

    def wait_for_subscriber(self, topic: str, timeout_s: float = 20.0) -> None:
        """Until the node under test has subscribed to ``topic`` (so nothing we publish is
        lost)."""
        self.wait_for(
            lambda: self.node.count_subscribers(topic) > 0, timeout_s, f"a subscriber on {topic}"
        )

    def wait_for_publisher(self, topic: str, timeout_s: float = 20.0) -> None:
        self.wait_for(
            lambda: self.node.count_publishers(topic) > 0, timeout_s, f"a publisher on {topic}"
        )

    def now_msg(self):
        return self.node.get_clock().now().to_msg()

    def destroy(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


def call(ros: RosTestNode, srv_type, name: str, request, what: str, timeout_s: float = 30.0):
    client = ros.node.create_client(srv_type, name)
    try:
        ros.wait_for(client.service_is_ready, timeout_s, f"the service {name}")
        future = client.call_async(request)
        ros.wait_for(future.done, timeout_s, what)
        return future.result()
    finally:
        ros.node.destroy_client(client)


def set_parameter(ros: RosTestNode, node_name: str, name: str, value):
    kind, field = {
        bool: (ParameterType.PARAMETER_BOOL, "bool_value"),
        int: (ParameterType.PARAMETER_INTEGER, "integer_value"),
        float: (ParameterType.PARAMETER_DOUBLE, "double_value"),
        str: (ParameterType.PARAMETER_STRING, "string_value"),
        list: (ParameterType.PARAMETER_STRING_ARRAY, "string_array_value"),
    }[type(value)]
    parameter = Parameter(name=name, value=ParameterValue(type=kind, **{field: value}))
    response = call(
        ros,
        SetParameters,
        f"/{node_name}/set_parameters",
        SetParameters.Request(parameters=[parameter]),
        f"set_parameters {name}",
    )
    return response.results[0]


def get_parameter(ros: RosTestNode, node_name: str, name: str):
    """The node's current value of one parameter (what ``ros2 param get`` prints)."""
    from rclpy.parameter import parameter_value_to_python

    response = call(
        ros,
        GetParameters,
        f"/{node_name}/get_parameters",
        GetParameters.Request(names=[name]),
        f"get_parameters {name}",
    )
    return parameter_value_to_python(response.values[0])
