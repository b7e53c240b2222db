"""Messages sim_node publishes, built from the simulator's arrays (thin, no simulation)."""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import (
    Point,
    Pose,
    PoseWithCovariance,
    Quaternion,
    Twist,
    TwistWithCovariance,
    Vector3,
)
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CameraInfo, LaserScan

from world_model_ros.core.geometry import yaw_to_quaternion


def odometry_msg(header, child_frame: str, pose: np.ndarray, twist: np.ndarray, noise: float):
    """nav_msgs/Odometry: pose (x, y, yaw) in ``header.frame_id``, body twist (v, w)."""
    qx, qy, qz, qw = yaw_to_quaternion(float(pose[2]))
    msg = Odometry(header=header, child_frame_id=child_frame)
    msg.pose = PoseWithCovariance(
        pose=Pose(
            position=Point(x=float(pose[0]), y=float(pose[1]), z=0.0),
            orientation=Quaternion(x=qx, y=qy, z=qz, w=qw),
        )
    )
    msg.pose.covariance[0] = msg.pose.covariance[7] = 1e-4 + noise
    msg.pose.covariance[35] = 1e-3 + noise
    msg.twist = TwistWithCovariance(
        twist=Twist(linear=Vector3(x=float(twist[0])), angular=Vector3(z=float(twist[1])))
    )
    msg.twist.covariance[0], msg.twist.covariance[35] = 1e-4, 1e-3
    return msg


def camera_info_msg(header, width: int, height: int, intrinsics) -> CameraInfo:
    """A pinhole without distortion from (fx, fy, cx, cy)."""
    fx, fy, cx, cy = intrinsics
    info = CameraInfo(header=header, height=height, width=width, distortion_model="plumb_bob")
    info.d = [0.0] * 5
    info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def laser_scan_msg(header, lidar, ranges_n: np.ndarray) -> LaserScan:
    """sensor_msgs/LaserScan of the simulated LiDAR (sim/lidar.LidarConfig); +inf = no return."""
    angles = lidar.angles_rad()
    scan = LaserScan(header=header)
    scan.angle_min, scan.angle_max = float(angles[0]), float(angles[-1])
    scan.angle_increment = float(lidar.angle_increment_rad())
    scan.range_min, scan.range_max = float(lidar.range_min_m), float(lidar.range_max_m)
    scan.ranges = np.asarray(ranges_n, dtype=np.float32).tolist()
    return scan
