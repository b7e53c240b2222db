#!/usr/bin/env python3
"""Quick end-to-end latency check of a running world_model_node, from a process of its own.

Publishes a camera (default 640x480 rgb8 at 30 Hz, reliable, depth 1) and odometry (50 Hz) like
a robot's drivers, stamped with the time of publishing, and listens for predictions on another
thread. Latency per prediction = receive time - camera stamp it carries, so transport both ways
is included. Prints one JSON object: what was sent (every camera stamp), what came back, and
latency percentiles. The node must already run (same ROS_DOMAIN_ID):

    .venv/bin/world_model_node --ros-args --params-file config/world_model.yaml &
    .venv/bin/python bench/e2e_latency_quick.py --seconds 20 --warmup 2

For the full benchmark (independent streamer/recorder processes, CPU/RSS) use bench/latency.py.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time

import numpy as np
import rclpy
from nav_msgs.msg import Odometry
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from world_model_ros.msg import WorldModelPrediction


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    array = np.asarray(values)
    return {
        "count": len(values),
        "p50": float(np.percentile(array, 50)),
        "p95": float(np.percentile(array, 95)),
        "max": float(array.max()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--camera-hz", type=float, default=30.0)
    parser.add_argument("--odom-hz", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="seconds of predictions left out of the figures"
    )
    parser.add_argument("--namespace", default="", help="the node's namespace")
    parser.add_argument(
        "--wait-for-node",
        type=float,
        default=30.0,
        help="seconds to wait for the node's subscription",
    )
    args = parser.parse_args()
    prefix = f"/{args.namespace.strip('/')}/" if args.namespace.strip("/") else "/"

    rclpy.init()
    node = rclpy.create_node("e2e_latency_quick")
    clock = node.get_clock()
    camera_pub = node.create_publisher(
        Image,
        prefix + "camera/image_raw",
        QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE),
    )
    odom_pub = node.create_publisher(Odometry, prefix + "odom", 10)
    received: list[dict] = []
    lock = threading.Lock()

    def on_prediction(msg: WorldModelPrediction) -> None:
        now_ns = clock.now().nanoseconds
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        node_ms = (msg.latency.sec * 1_000_000_000 + msg.latency.nanosec) / 1e6
        with lock:
            received.append(
                {
                    "stamp_ns": stamp_ns,
                    "latency_ms": (now_ns - stamp_ns) / 1e6,
                    "node_latency_ms": node_ms,
                }
            )

    node.create_subscription(
        WorldModelPrediction, prefix + "world_model/prediction", on_prediction, 100
    )
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()

    deadline = time.monotonic() + args.wait_for_node
    while camera_pub.get_subscription_count() == 0:
        if time.monotonic() > deadline:
            print(
                json.dumps(
                    {
                        "error": f"no subscriber on {prefix}camera/image_raw after "
                        f"{args.wait_for_node} s"
                    }
                )
            )
            return 1
        time.sleep(0.05)

    frames = [
        np.random.default_rng(i)
        .integers(0, 255, args.width * args.height * 3, dtype=np.uint8)
        .tobytes()
        for i in range(3)
    ]
    image = Image(height=args.height, width=args.width, encoding="rgb8", step=args.width * 3)
    image.header.frame_id = "camera_link"
    odom = Odometry()
    odom.header.frame_id, odom.child_frame_id = "odom", "base_link"
    sent_ns: list[int] = []
    start = time.monotonic()
    next_image = next_odom = start
    try:
        while time.monotonic() - start < args.seconds:
            now = time.monotonic()
            if now >= next_odom:  # a slow circle: 0.4 m/s, 0.2 rad/s
                yaw = 0.2 * (now - start)
                odom.header.stamp = clock.now().to_msg()
                odom.pose.pose.position.x, odom.pose.pose.position.y = (
                    2.0 * math.sin(yaw),
                    2.0 * (1 - math.cos(yaw)),
                )
                odom.pose.pose.orientation.z, odom.pose.pose.orientation.w = (
                    math.sin(yaw / 2),
                    math.cos(yaw / 2),
                )
                odom.twist.twist.linear.x, odom.twist.twist.angular.z = 0.4, 0.2
                odom_pub.publish(odom)
                next_odom += 1.0 / args.odom_hz
            if now >= next_image:
                image.data = frames[len(sent_ns) % len(frames)]
                image.header.stamp = clock.now().to_msg()
                camera_pub.publish(image)
                sent_ns.append(image.header.stamp.sec * 1_000_000_000 + image.header.stamp.nanosec)
                next_image += 1.0 / args.camera_hz
            time.sleep(max(0.0, min(next_image, next_odom) - time.monotonic()))
        time.sleep(0.5)  # the last predictions in flight
    except KeyboardInterrupt:
        pass
    with lock:
        rows = list(received)
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown()

    sent = set(sent_ns)
    kept = [r for r in rows if sent_ns and r["stamp_ns"] >= sent_ns[0] + args.warmup * 1e9]
    print(
        json.dumps(
            {
                "camera": f"{args.width}x{args.height} rgb8 @ {args.camera_hz:g} Hz",
                "seconds": args.seconds,
                "sent": len(sent_ns),
                "received": len(rows),
                "matched": sum(r["stamp_ns"] in sent for r in rows),
                "latency_ms": percentiles([r["latency_ms"] for r in kept]),
                "node_latency_ms": percentiles([r["node_latency_ms"] for r in kept]),
                "sent_stamps_ns": sent_ns,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
