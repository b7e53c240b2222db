"""A peer on cmd_vel with the other message type (Twist vs TwistStamped): DDS connects nothing
and nobody errors, so the nodes say it, once in the log and on diagnostics while it lasts.

The mistake this catches happened here: `demo.launch.py robot:=large` ran a base that takes
TwistStamped under a planner publishing Twist; the robot stood still and the twin, seeing no
commands, judged itself out of domain.
"""

import pytest

pytestmark = pytest.mark.ros

BASE = ["--ros-args", "-p", "model:=kinematic", "-p", "diagnostics_period_s:=0.2"]


def diagnostics_saying(ros, text: str, timeout_s: float = 20.0) -> str:
    from diagnostic_msgs.msg import DiagnosticArray

    bucket = ros.subscribe(DiagnosticArray, "diagnostics")

    def said() -> bool:
        return any(text in s.message for m in bucket for s in m.status)

    ros.wait_for(said, timeout_s, f"diagnostics saying {text!r}")
    return next(s.message for m in bucket for s in m.status if text in s.message)


@pytest.mark.parametrize(
    "executable, peer_role",
    [("mpc_planner_node", "subscribes"), ("world_model_node", "publishes")],
)
def test_a_cmd_vel_peer_of_the_other_type_is_named(ros, start_node, executable, peer_role):
    """The planner publishes Twist where a base subscribes TwistStamped; the twin subscribes
    Twist where a planner publishes TwistStamped. Each names the peer, both types and the fix."""
    from geometry_msgs.msg import TwistStamped

    node = start_node(executable, *BASE, "-p", "cmd_vel_stamped:=false")
    if peer_role == "subscribes":
        ros.subscribe(TwistStamped, "cmd_vel")
    else:
        ros.publisher(TwistStamped, "cmd_vel")
    message = diagnostics_saying(ros, "nothing passes between them")
    assert f"{peer_role} geometry_msgs/msg/TwistStamped" in message
    assert "geometry_msgs/msg/Twist," in message and "cmd_vel_stamped: true" in message
    assert ros.node.get_name() in message
    ros.wait_for(lambda: "nothing passes between them" in node.output(), 10, "the log line")
    assert node.output().count("nothing passes between them") == 1  # once, not every report


def test_sim_node_says_so_too(ros, start_node):
    """sim_node stands for the base: a robot file with TwistStamped and a Twist commander."""
    from geometry_msgs.msg import Twist

    start_node("sim_node", "--ros-args", "-p", "robot:=large", "-p", "diagnostics_period_s:=0.2")
    ros.publisher(Twist, "cmd_vel")
    message = diagnostics_saying(ros, "nothing passes between them", timeout_s=60.0)
    assert "publishes geometry_msgs/msg/Twist but this node subscribes" in message
