"""A planner parameter changed at run time shows in the next cycle: ``num_samples`` through
``SetParameters`` (what ``ros2 param set /mpc_planner_node num_samples 64`` sends), read back
from the planning time on ``mpc_planner/status``.

mpc_planner_node runs as a user starts it (console script, config/mpc_planner.yaml, the learned
model, state_source local) and is fed odometry and 64x48 camera frames at 50 Hz towards a goal
50 m away (bench/failsafe.py's rig). Per setting in ``--samples`` (in that order): the request's
round trip, the planning time of the first status after the reply, and the median of the next
``--cycles``. Results: bench/results/parameter-change-<tag>.json and .md, with the machine.

    .venv/bin/python bench/parameter_change.py   # alone on the machine: the figures are timings
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import rclpy
from failsafe import HERE, Rig  # puts test/ on sys.path for ros_harness
from ros_harness import RosTestNode, set_parameter

from world_model_ros.msg import PlannerStatus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[64, 1024, 512])
    parser.add_argument("--cycles", type=int, default=30, help="cycles per setting")
    parser.add_argument("--tag", default="cpu2")
    args = parser.parse_args()
    import torch
    from planning import machine_description  # bench/planning.py

    context = rclpy.Context()
    rclpy.init(context=context)
    ros = RosTestNode(context, "parameter_change_bench")
    statuses: list[tuple[float, float, int]] = []  # (received s, planning_ms, cycles)
    rows, results = [], []
    try:
        rig = Rig(ros, "local", Path(tempfile.mkdtemp(prefix="param-")), model="latent")
        ros.node.create_subscription(
            PlannerStatus,
            f"{rig.namespace}/mpc_planner/status",
            lambda m: statuses.append((rig.now_s(), m.planning_ms, m.cycles)),
            10,
        )
        try:
            rig.drive()
            settings = [("512 (start)", None)] + [(str(n), n) for n in args.samples]
            for label, samples in settings:
                asked = rig.now_s()
                if samples is not None:
                    result = set_parameter(ros, f"{rig.namespace}/mpc_planner_node".lstrip("/"),
                                           "num_samples", samples)  # fmt: skip
                    assert result.successful, result.reason
                replied = rig.now_s()
                first_cycle = max((c for _, _, c in statuses), default=0)
                end = time.monotonic() + args.cycles / 10.0 + 0.5
                while time.monotonic() < end:
                    rig.good()
                    ros.spin(0.02)
                after = [(t, ms, c) for t, ms, c in statuses if t > replied and c > first_cycle]
                row = {
                    "num_samples": label,
                    "set_round_trip_ms": round(1e3 * (replied - asked), 1),
                    "first_cycle_planning_ms": round(after[0][1], 1) if after else None,
                    "median_planning_ms": round(statistics.median(ms for _, ms, _ in after), 1),
                    "cycles": len(after),
                }
                results.append(row)
                print(row, flush=True)
                rows.append(
                    f"| {label} | {row['set_round_trip_ms']} | {row['first_cycle_planning_ms']} "
                    f"| {row['median_planning_ms']} | {row['cycles']} |"
                )
            assert rig.node.alive(), rig.node.output()[-3000:]
        finally:
            rig.node.stop()
    finally:
        ros.destroy()
        rclpy.shutdown(context=context)

    machine = machine_description(torch.device("cpu"))
    out = HERE / "results" / f"parameter-change-{args.tag}"
    out.with_suffix(".json").write_text(
        json.dumps({"machine": machine, "settings": results}, indent=2) + "\n"
    )
    load = os.getloadavg()
    out.with_suffix(".md").write_text(
        "\n".join(
            [
                f"# num_samples changed at run time ({args.tag})",
                "",
                f"Machine: {machine['cpu']}, {machine['logical_cores']} logical cores, "
                f"{machine['memory_gib']} GiB, no GPU; load average at the end {load[0]:.2f}. "
                "Command: `.venv/bin/python bench/parameter_change.py` (alone on the machine).",
                "",
                "mpc_planner_node (config/mpc_planner.yaml, learned model, state_source local, "
                "10 Hz), fed odometry and 64x48 frames at 50 Hz towards a far goal; "
                "`num_samples` set through SetParameters, planning time read from "
                "mpc_planner/status.",
                "",
                "| num_samples | SetParameters round trip (ms) | first cycle after the reply: "
                "planning ms | median planning ms | cycles |",
                "|---|---|---|---|---|",
                *rows,
                "",
            ]
        )
    )
    print(f"wrote {out}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
