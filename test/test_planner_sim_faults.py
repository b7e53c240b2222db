"""Issue 15's input findings against mpc_planner_node and sim_node over DDS.

The planner (kinematic model, local state source, as in test_mpc_planner_node.py) now has a
``diagnostics`` publisher that counts every rejected input per topic and reason and says why
the robot holds; huge or malformed odometry and goals are rejected under the same input bounds
as the twin, and a lone stray odometry stamp is an outlier, not a time reset. sim_node obeys
the same bounds on ``cmd_vel``: a Twist of 1e308 used to be stepped into the physics.
"""

from __future__ import annotations

import math

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import Twist
from malformed import diagnostic_values, non_finite_fields, to_time
from nav_msgs.msg import Odometry
from rclpy.qos import QoSProfile, ReliabilityPolicy
from test_mpc_planner_node import (
    FAST,
    NODE,
    connect,
    drive_until_moving,
    goal,
    keeps_sending_zero,
    odometry,
    statuses,
    stops_while,
)

pytestmark = pytest.mark.ros
DIAG = ["-p", "diagnostics_period_s:=0.1"]


def planner_diagnostics(ros):
    return ros.subscribe(DiagnosticArray, "diagnostics")


def diag_values(bucket) -> dict[str, str]:
    return diagnostic_values(bucket[-1], "control") if bucket else {}


def wait_diag(ros, bucket, key: str, at_least: int = 1) -> dict[str, str]:
    ros.wait_for(
        lambda: int(diag_values(bucket).get(key, 0)) >= at_least,
        timeout_s=10,
        what=f"diagnostics {key} >= {at_least} (now {diag_values(bucket).get(key)})",
    )
    return diag_values(bucket)


@pytest.mark.parametrize("field", ["speed", "position"])
def test_huge_odometry_holds_the_robot_and_is_counted(ros, start_node, field):
    """Finding 3 at the planner: odometry of 1e308 m/s or at x = 1e308 was planned from. Now it
    is rejected (out_of_bounds), the robot gets zero within stale_timeout_s + one period, the
    status names the reason and diagnostics count it."""
    node = start_node(NODE, *FAST, *DIAG)
    diagnostics = planner_diagnostics(ros)
    io = connect(ros)
    drive_until_moving(ros, io, lambda: io["odom"].publish(odometry(ros)))

    def huge():
        msg = odometry(ros)
        if field == "speed":
            msg.twist.twist.linear.x = 1e308
        else:
            msg.pose.pose.position.x = 1e308
        io["odom"].publish(msg)

    stops_while(ros, io, huge)
    keeps_sending_zero(ros, io, huge)
    assert "out_of_bounds" in statuses(io)[-1], statuses(io)[-1]
    values = wait_diag(ros, diagnostics, "rejected.odom.out_of_bounds")
    assert values["state"] == "holding"
    assert diagnostics[-1].status[0].level == DiagnosticStatus.WARN
    assert "holding the robot at zero" in diagnostics[-1].status[0].message
    assert node.alive()


def test_a_lone_stray_odometry_stamp_is_an_outlier_not_a_reset(ros, start_node):
    """Finding 5 at the planner: one odometry message stamped 0 cleared its odometry history. Now
    it is counted as stamp_outlier and the robot keeps driving on the real odometry."""
    start_node(NODE, *FAST, *DIAG)
    diagnostics = planner_diagnostics(ros)
    io = connect(ros)
    drive_until_moving(ros, io, lambda: io["odom"].publish(odometry(ros)))
    stray = odometry(ros)
    stray.header.stamp = to_time(0.0)
    io["odom"].publish(stray)
    values = wait_diag(ros, diagnostics, "rejected.odom.stamp_outlier")
    assert values["odom_time_resets"] == "0"
    io["cmd"].clear()
    for _ in range(10):
        io["odom"].publish(odometry(ros))
        ros.spin(0.05)
    assert any(m.linear.x > 0.05 for m in io["cmd"])  # still driving
    assert statuses(io)[-1].startswith("active")


def test_a_goal_with_a_quaternion_of_norm_two_is_refused(ros, start_node):
    """Finding 6 at the planner: the quaternion (2, 0, 0, 0) was used as is."""
    start_node(NODE, *FAST, *DIAG)
    diagnostics = planner_diagnostics(ros)
    io = connect(ros)
    io["odom"].publish(odometry(ros))
    bad = goal(ros, 1.0, 0.0)
    o = bad.pose.orientation
    o.x, o.y, o.z, o.w = 2.0, 0.0, 0.0, 0.0
    io["goal"].publish(bad)

    def refused():
        io["odom"].publish(odometry(ros))
        return statuses(io)[-1].startswith("failed: goal rejected: bad_quaternion")

    ros.wait_for(refused, timeout_s=10, what="the goal refused")
    wait_diag(ros, diagnostics, "rejected.goal_pose.bad_quaternion")
    assert not any(m.linear.x or m.angular.z for m in io["cmd"])


def test_sim_node_refuses_a_huge_command(ros, start_node):
    """Finding 3 at the simulator: a Twist of 1e308 was stepped into the physics. Now it is
    rejected (out_of_bounds), counted on diagnostics, and odometry stays finite."""
    start_node(
        "sim_node",
        "--ros-args",
        "-p",
        "camera_width:=32",
        "-p",
        "camera_height:=32",
        *DIAG,
    )
    best_effort = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
    odoms = ros.subscribe(Odometry, "odom", best_effort)
    diagnostics = ros.subscribe(DiagnosticArray, "diagnostics")
    cmd = ros.publisher(Twist, "cmd_vel")
    ros.wait_for_subscriber("cmd_vel")
    ros.wait_for(lambda: len(odoms) > 5 and diagnostics, timeout_s=30, what="odometry")
    huge = Twist()
    huge.linear.x, huge.angular.z = 1e308, -math.inf

    def counted():
        cmd.publish(huge)
        values = diagnostic_values(diagnostics[-1], "simulator")
        return int(values.get("rejected", 0)) >= 1

    ros.wait_for(counted, timeout_s=10, what="the command rejected")
    values = diagnostic_values(diagnostics[-1], "simulator")
    assert set(k for k in values if k.startswith("rejected.cmd_vel.")) <= {
        "rejected.cmd_vel.out_of_bounds",
        "rejected.cmd_vel.non_finite",
    }
    count = len(odoms)
    ros.wait_for(lambda: len(odoms) > count + 10, timeout_s=10, what="more odometry")
    assert not any(non_finite_fields(m) for m in odoms)
    assert abs(odoms[-1].twist.twist.linear.x) < 1e-3  # the robot did not move
