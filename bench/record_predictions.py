#!/usr/bin/env python3
"""Benchmark output process: records every prediction and diagnostics message it receives.

Latency is measured here, in a process of its own: receive time minus the camera stamp the
prediction carries, so transport both ways is included. Writes JSON lines to --output.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import ExternalShutdownException

from world_model_ros.msg import WorldModelPrediction


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    rclpy.init()
    node = rclpy.create_node("bench_prediction_recorder")
    out = open(args.output, "w")
    clock = node.get_clock()

    def on_prediction(msg: WorldModelPrediction) -> None:
        received = clock.now().nanoseconds
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        out.write(
            json.dumps(
                {
                    "kind": "prediction",
                    "stamp_ns": stamp,
                    "received_ns": received,
                    "latency_ms": (received - stamp) / 1e6,
                    "states": len(msg.states),
                    "model_id": msg.model_id,
                }
            )
            + "\n"
        )

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for status in msg.status:
            out.write(
                json.dumps(
                    {
                        "kind": "diagnostics",
                        "received_ns": clock.now().nanoseconds,
                        "name": status.name,
                        "level": int.from_bytes(bytes(status.level), "little")
                        if isinstance(status.level, (bytes, bytearray))
                        else int(status.level),
                        "values": {kv.key: kv.value for kv in status.values},
                    }
                )
                + "\n"
            )

    node.create_subscription(WorldModelPrediction, "world_model/prediction", on_prediction, 50)
    node.create_subscription(DiagnosticArray, "diagnostics", on_diagnostics, 10)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    out.close()
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
