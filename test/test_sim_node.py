"""sim_node over DDS: it publishes camera, odometry and clock at simulated-time rates and obeys
cmd_vel; and world_model_node runs against it and publishes predictions."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Bool

from world_model_ros.core.geometry import quaternion_to_yaw

pytestmark = pytest.mark.ros
BEST_EFFORT = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
REPO = Path(__file__).resolve().parent.parent


def stamp_s(msg) -> float:
    return msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec


def yaw_of(msg: Odometry) -> float:
    q = msg.pose.pose.orientation
    return quaternion_to_yaw(q.x, q.y, q.z, q.w)


def test_sim_node_publishes_sensors_and_clock_and_obeys_cmd_vel(start_node, ros):
    node = start_node(
        "sim_node",
        "--ros-args",
        "--params-file",
        str(REPO / "config" / "sim.yaml"),
        "-p",
        "real_time_factor:=2.0",
        "-p",
        "camera_width:=64",
        "-p",
        "camera_height:=48",
        "-p",
        "layout_seed:=3",
        "-p",
        "cmd_vel_stamped:=true",
        "-p",
        "cmd_timeout_s:=0.3",
    )
    images = ros.subscribe(
        Image, "camera/image_raw", BEST_EFFORT
    )  # best-effort matches the reliable publisher
    infos = ros.subscribe(CameraInfo, "camera/camera_info")
    odoms = ros.subscribe(Odometry, "odom", BEST_EFFORT)
    clocks = ros.subscribe(Clock, "/clock", BEST_EFFORT)
    contacts = ros.subscribe(Bool, "ground_truth/contact")
    ros.wait_for(
        lambda: len(images) >= 5 and len(odoms) >= 10 and len(clocks) >= 10 and infos and contacts,
        timeout_s=30,
        what=f"sensor streams (node alive: {node.alive()})\n{node.output()}",
    )
    image = images[-1]
    assert (image.width, image.height, image.encoding, image.step) == (64, 48, "rgb8", 64 * 3)
    assert len(image.data) == 48 * 64 * 3 and image.header.frame_id == "camera_optical_frame"
    assert infos[-1].k[0] > 0 and infos[-1].width == 64
    assert odoms[-1].header.frame_id == "odom" and odoms[-1].child_frame_id == "base_link"

    # Rates in simulated time: camera 30 Hz, odometry 50 Hz (stamps from the simulator's clock).
    ros.wait_for(
        lambda: len(images) >= 20 and len(odoms) >= 40, timeout_s=30, what="more messages"
    )
    camera_dt = np.diff([stamp_s(m) for m in images[-15:]])
    odom_dt = np.diff([stamp_s(m) for m in odoms[-30:]])
    assert np.median(camera_dt) == pytest.approx(1 / 30, abs=0.003)
    assert np.median(odom_dt) == pytest.approx(0.02, abs=1e-6)
    clock_s = [c.clock.sec + 1e-9 * c.clock.nanosec for c in clocks]
    assert all(b >= a for a, b in zip(clock_s, clock_s[1:], strict=False))

    # Standing still, then driving forward along its heading while commanded.
    start = odoms[-1]
    x0, y0, yaw0 = start.pose.pose.position.x, start.pose.pose.position.y, yaw_of(start)
    assert abs(start.twist.twist.linear.x) < 0.01
    ros.wait_for_subscriber("cmd_vel")
    command = TwistStamped()
    command.twist.linear.x = 0.3
    publisher = ros.publisher(TwistStamped, "cmd_vel")

    def moved() -> float:
        last = odoms[-1].pose.pose.position
        return (last.x - x0) * math.cos(yaw0) + (last.y - y0) * math.sin(yaw0)

    def drive_until_moved() -> bool:
        command.header.stamp = ros.now_msg()
        publisher.publish(command)
        return moved() > 0.1 or any(c.data for c in contacts[-3:])

    ros.wait_for(drive_until_moved, timeout_s=30, what="the robot to move forward under cmd_vel")
    assert moved() > 0.0
    # Commands stop: after cmd_timeout_s (simulated) the robot stops by itself.
    ros.wait_for(
        lambda: abs(odoms[-1].twist.twist.linear.x) < 0.01 and moved() > 0.02,
        timeout_s=30,
        what="the robot to stop after the cmd_vel timeout",
    )
    assert node.alive()


def test_world_model_node_predicts_against_sim_node(start_node, ros):
    from world_model_ros.msg import WorldModelPrediction

    if not (REPO / "world_model_ros" / "nodes" / "world_model_node.py").exists():
        pytest.fail("world_model_node is not there yet")
    sim = start_node(
        "sim_node",
        "--ros-args",
        "-p",
        "real_time_factor:=1.0",
        "-p",
        "camera_width:=64",
        "-p",
        "camera_height:=64",
    )
    model = start_node(
        "world_model_node", "--ros-args", "-p", "use_sim_time:=true", "-p", "model:=kinematic"
    )
    predictions = ros.subscribe(WorldModelPrediction, "world_model/prediction")
    odoms = ros.subscribe(Odometry, "odom", BEST_EFFORT)
    ros.wait_for_subscriber("cmd_vel")
    command = Twist()
    command.linear.x, command.angular.z = 0.3, 0.5

    def predicting() -> bool:
        ros.publisher(Twist, "cmd_vel").publish(command)
        return len(predictions) >= 5 and len(odoms) >= 5

    ros.wait_for(
        predicting,
        timeout_s=60,
        what=f"world_model/prediction (sim alive {sim.alive()}, model alive {model.alive()})\n"
        f"{model.output()[-3000:]}",
    )
    prediction = predictions[-1]
    assert prediction.header.frame_id == "odom" and len(prediction.states) > 0
    # Conditioned on a camera frame of the simulator: stamps on the simulated clock.
    odom_stamps = [stamp_s(o) for o in odoms]
    assert min(odom_stamps) - 1.0 <= stamp_s(prediction) <= max(odom_stamps) + 1.0
    first = prediction.states[0].pose.position
    nearest = min(odoms, key=lambda o: abs(stamp_s(o) - stamp_s(prediction)))
    assert (
        math.hypot(first.x - nearest.pose.pose.position.x, first.y - nearest.pose.pose.position.y)
        < 0.3
    )
    assert sim.alive() and model.alive()
