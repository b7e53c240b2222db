#!/usr/bin/env python3
"""Benchmark input process: streams a camera and odometry over DDS like a robot's drivers would.

Written independently of the node under test (it only knows the topic interface). Images are
stamped with the time they are published; odometry drives a slow circle so interpolation has
something to do. Prints one JSON line with what it sent when it stops.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time

import numpy as np
import rclpy
from geometry_msgs.msg import Quaternion
from nav_msgs.msg import Odometry
from rclpy.executors import ExternalShutdownException
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--camera-hz", type=float, default=30.0)
    parser.add_argument("--odom-hz", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--best-effort",
        action="store_true",
        help="publish the camera best-effort (default reliable)",
    )
    args = parser.parse_args()

    rclpy.init()
    node = rclpy.create_node("bench_camera_stream")
    qos = QoSProfile(
        depth=1,
        reliability=ReliabilityPolicy.BEST_EFFORT
        if args.best_effort
        else ReliabilityPolicy.RELIABLE,
    )
    image_pub = node.create_publisher(Image, "camera/image_raw", qos)
    odom_pub = node.create_publisher(Odometry, "odom", 10)

    rng = np.random.default_rng(0)
    # A few pre-made frames: the publisher must not be the bottleneck it measures.
    frames = [
        rng.integers(0, 255, (args.height, args.width, 3), dtype=np.uint8).tobytes()
        for _ in range(4)
    ]
    image = Image(
        height=args.height, width=args.width, encoding="rgb8", is_bigendian=0, step=args.width * 3
    )
    image.header.frame_id = "camera_link"
    odom = Odometry()
    odom.header.frame_id = "odom"
    odom.child_frame_id = "base_link"

    stop = False

    def on_signal(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    # A camera driver on a robot runs long before the node; here both start together, so wait until
    # the node's subscription has matched (the first frames would otherwise measure DDS discovery).
    match_deadline = time.monotonic() + 30.0
    while (
        image_pub.get_subscription_count() == 0 and time.monotonic() < match_deadline and not stop
    ):
        time.sleep(0.05)

    sent_images = sent_odom = 0
    start = time.monotonic()
    next_image = next_odom = start
    try:
        while not stop and time.monotonic() - start < args.seconds:
            now = time.monotonic()
            if now >= next_odom:
                t = now - start
                yaw = 0.2 * t
                odom.header.stamp = node.get_clock().now().to_msg()
                odom.pose.pose.position.x = 2.0 * math.sin(yaw)
                odom.pose.pose.position.y = 2.0 * (1.0 - math.cos(yaw))
                odom.pose.pose.orientation = Quaternion(z=math.sin(yaw / 2), w=math.cos(yaw / 2))
                odom.twist.twist.linear.x = 0.4
                odom.twist.twist.angular.z = 0.2
                odom_pub.publish(odom)
                sent_odom += 1
                next_odom += 1.0 / args.odom_hz
            if now >= next_image:
                image.header.stamp = node.get_clock().now().to_msg()
                image.data = frames[sent_images % len(frames)]
                image_pub.publish(image)
                sent_images += 1
                next_image += 1.0 / args.camera_hz
            time.sleep(max(0.0, min(next_image, next_odom) - time.monotonic()))
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    print(
        json.dumps(
            {
                "sent_images": sent_images,
                "sent_odom": sent_odom,
                "seconds": time.monotonic() - start,
            }
        ),
        flush=True,
    )
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
