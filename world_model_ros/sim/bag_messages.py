"""The messages the recorder writes into bags (rosbags objects serialised to CDR), no rclpy.

Topic names and frames of the simulator's bags live here, with one builder per message type:
the recorder (recorder.py) and the tests that write bags of their own use the same ones.
"""

from __future__ import annotations

import numpy as np
from rosbags.typesys import Stores, get_typestore

from ..core.data.images import encode_raw
from ..core.geometry import yaw_to_quaternion

TOPICS = {
    "image": "/camera/image_raw",
    "camera_info": "/camera/camera_info",
    "odom": "/odom",
    "cmd_vel": "/cmd_vel",
    "contact": "/ground_truth/contact",
    "true_odom": "/ground_truth/odom",
    "tf": "/tf",
    "scan": "/scan",
    "bumper": "/bumper",
}
FRAMES = {
    "odom": "odom",
    "base": "base_link",
    "camera": "camera_optical_frame",
    "laser": "laser",
}


def typestore():
    """The ROS 2 message definitions bags are written with (Kilted where rosbags knows it)."""
    return get_typestore(getattr(Stores, "ROS2_KILTED", Stores.LATEST))


class MessageFactory:
    """Builds the rosbags message objects of one sample and serialises them to CDR."""

    def __init__(self, store):
        self.store = store
        t = store.types
        self.Time, self.Header = t["builtin_interfaces/msg/Time"], t["std_msgs/msg/Header"]
        self.Image, self.CameraInfo = t["sensor_msgs/msg/Image"], t["sensor_msgs/msg/CameraInfo"]
        self.RegionOfInterest = t["sensor_msgs/msg/RegionOfInterest"]
        self.Odometry, self.Twist = t["nav_msgs/msg/Odometry"], t["geometry_msgs/msg/Twist"]
        self.Vector3, self.Point = t["geometry_msgs/msg/Vector3"], t["geometry_msgs/msg/Point"]
        self.Quaternion, self.Pose = t["geometry_msgs/msg/Quaternion"], t["geometry_msgs/msg/Pose"]
        self.PoseCov, self.TwistCov = (
            t["geometry_msgs/msg/PoseWithCovariance"],
            t["geometry_msgs/msg/TwistWithCovariance"],
        )
        self.Transform, self.TransformStamped = (
            t["geometry_msgs/msg/Transform"],
            t["geometry_msgs/msg/TransformStamped"],
        )
        self.TFMessage, self.Bool = t["tf2_msgs/msg/TFMessage"], t["std_msgs/msg/Bool"]
        self.TwistStamped, self.LaserScan = (
            t["geometry_msgs/msg/TwistStamped"],
            t["sensor_msgs/msg/LaserScan"],
        )
        # Diagonal covariances: small for a simulated, near-perfect odometry.
        self.pose_cov = np.diag([1e-4, 1e-4, 1e6, 1e6, 1e6, 1e-3]).reshape(-1)
        self.twist_cov = np.diag([1e-4, 1e6, 1e6, 1e6, 1e6, 1e-3]).reshape(-1)

    def header(self, stamp_ns: int, frame: str):
        return self.Header(
            stamp=self.Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000),
            frame_id=frame,
        )

    def image(self, stamp_ns: int, rgb_hw3: np.ndarray, encoding: str = "rgb8") -> bytes:
        height, width, step, data = encode_raw(rgb_hw3, encoding)
        msg = self.Image(
            header=self.header(stamp_ns, FRAMES["camera"]),
            height=height,
            width=width,
            encoding=encoding,
            is_bigendian=0,
            step=step,
            data=np.frombuffer(data, dtype=np.uint8),
        )
        return self.store.serialize_cdr(msg, msg.__msgtype__)

    def camera_info(
        self, stamp_ns: int, width: int, height: int, intrinsics: tuple[float, float, float, float]
    ) -> bytes:
        fx, fy, cx, cy = intrinsics
        msg = self.CameraInfo(
            header=self.header(stamp_ns, FRAMES["camera"]),
            height=height,
            width=width,
            distortion_model="plumb_bob",
            d=np.zeros(5),
            k=np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1.0]),
            r=np.eye(3).reshape(-1),
            p=np.array([fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1.0, 0]),
            binning_x=0,
            binning_y=0,
            roi=self.RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
        )
        return self.store.serialize_cdr(msg, msg.__msgtype__)

    def odometry(self, stamp_ns: int, pose_3: np.ndarray, twist_2: np.ndarray) -> bytes:
        qx, qy, qz, qw = yaw_to_quaternion(float(pose_3[2]))
        msg = self.Odometry(
            header=self.header(stamp_ns, FRAMES["odom"]),
            child_frame_id=FRAMES["base"],
            pose=self.PoseCov(
                pose=self.Pose(
                    position=self.Point(x=float(pose_3[0]), y=float(pose_3[1]), z=0.0),
                    orientation=self.Quaternion(x=qx, y=qy, z=qz, w=qw),
                ),
                covariance=self.pose_cov,
            ),
            twist=self.TwistCov(twist=self.twist_msg(twist_2), covariance=self.twist_cov),
        )
        return self.store.serialize_cdr(msg, msg.__msgtype__)

    def twist_msg(self, vw: np.ndarray):
        return self.Twist(
            linear=self.Vector3(x=float(vw[0]), y=0.0, z=0.0),
            angular=self.Vector3(x=0.0, y=0.0, z=float(vw[1])),
        )

    def twist(self, vw: np.ndarray) -> bytes:
        return self.store.serialize_cdr(self.twist_msg(vw), "geometry_msgs/msg/Twist")

    def twist_stamped(self, stamp_ns: int, vw: np.ndarray) -> bytes:
        msg = self.TwistStamped(
            header=self.header(stamp_ns, FRAMES["base"]), twist=self.twist_msg(vw)
        )
        return self.store.serialize_cdr(msg, msg.__msgtype__)

    def scan(self, stamp_ns: int, ranges: np.ndarray, lidar) -> bytes:
        msg = self.LaserScan(
            header=self.header(stamp_ns, FRAMES["laser"]),
            angle_min=float(lidar.angles_rad()[0]),
            angle_max=float(lidar.angles_rad()[-1]),
            angle_increment=float(lidar.angle_increment_rad()),
            time_increment=0.0,
            scan_time=0.0,
            range_min=float(lidar.range_min_m),
            range_max=float(lidar.range_max_m),
            ranges=np.asarray(ranges, dtype=np.float32),
            intensities=np.zeros(0, dtype=np.float32),
        )
        return self.store.serialize_cdr(msg, msg.__msgtype__)

    def contact(self, touching: bool) -> bytes:
        return self.store.serialize_cdr(self.Bool(data=bool(touching)), "std_msgs/msg/Bool")

    def tf(self, stamp_ns: int, pose_3: np.ndarray) -> bytes:
        qx, qy, qz, qw = yaw_to_quaternion(float(pose_3[2]))
        transform = self.TransformStamped(
            header=self.header(stamp_ns, FRAMES["odom"]),
            child_frame_id=FRAMES["base"],
            transform=self.Transform(
                translation=self.Vector3(x=float(pose_3[0]), y=float(pose_3[1]), z=0.0),
                rotation=self.Quaternion(x=qx, y=qy, z=qz, w=qw),
            ),
        )
        return self.store.serialize_cdr(
            self.TFMessage(transforms=[transform]), "tf2_msgs/msg/TFMessage"
        )
