"""sim_node with another robot file over DDS: its camera (size, encoding), its LiDAR on `scan`,
its TwistStamped base; and a bad robot file is one fatal line and a non-zero exit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import wait_until
from geometry_msgs.msg import TwistStamped
from nav_msgs.msg import Odometry
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, LaserScan

pytestmark = pytest.mark.ros
BEST_EFFORT = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)


def yaw_of(msg: Odometry) -> float:
    q = msg.pose.pose.orientation
    return 2 * math.atan2(q.z, q.w)


def test_sim_node_simulates_the_robot_of_a_robot_file(start_node, ros):
    node = start_node(
        "sim_node", "--ros-args", "-p", "robot:=large", "-p", "layout_seed:=3",
        "-p", "real_time_factor:=2.0",
    )  # fmt: skip
    images = ros.subscribe(Image, "camera/image_raw", BEST_EFFORT)
    infos = ros.subscribe(CameraInfo, "camera/camera_info", BEST_EFFORT)
    scans = ros.subscribe(LaserScan, "scan", BEST_EFFORT)
    odoms = ros.subscribe(Odometry, "odom", BEST_EFFORT)
    ros.wait_for(
        lambda: len(images) >= 3 and len(scans) >= 3 and infos and len(odoms) >= 5,
        timeout_s=30,
        what=f"camera, scan and odometry (node alive: {node.alive()})\n{node.output()}",
    )
    image = images[-1]
    assert (image.width, image.height, image.encoding) == (160, 120, "bgr8")
    fovy = 2 * math.degrees(math.atan(infos[-1].height / (2 * infos[-1].k[4])))
    assert fovy == pytest.approx(50.0, abs=0.1)
    scan = scans[-1]
    ranges = np.asarray(scan.ranges)
    assert len(ranges) == 360 and scan.range_max == pytest.approx(8.0)
    assert np.isfinite(ranges).all() and ranges.min() > 0.15  # walls all around, 5 m arena
    # Its base takes TwistStamped.
    ros.wait_for_subscriber("cmd_vel")
    publisher = ros.publisher(TwistStamped, "cmd_vel")
    start_yaw = yaw_of(odoms[-1])

    def turned() -> bool:
        command = TwistStamped()
        command.header.stamp = ros.now_msg()
        command.twist.angular.z = 1.0
        publisher.publish(command)
        return abs(yaw_of(odoms[-1]) - start_yaw) > 0.2

    ros.wait_for(turned, timeout_s=30, what="the large robot to turn under TwistStamped")
    assert node.alive()


def test_a_bad_robot_file_is_one_fatal_line(start_node, tmp_path):
    bad = tmp_path / "robot.yaml"
    bad.write_text("name: x\nfootprint: {radius_m: 0.2}\ncamera: {width: 2}\n")
    node = start_node("sim_node", "--ros-args", "-p", f"robot:={bad}")
    wait_until(lambda: not node.alive(), timeout_s=30, what="sim_node to exit")
    assert node.stop() == 1
    assert f"robot file {bad}: 'camera.width'" in node.output()
