"""``world-model-ros``: one command with verbs; each verb lives in its own module.

A verb module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when their verb runs, so ``--help`` stays fast and a verb's heavy
dependencies (MuJoCo, rclpy) load only where needed. A user's mistake that reaches ``main``
(a read-only ``--output``, a malformed file) is one line and exit code 2 (``errors.py``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys

VERBS: dict[str, str] = {
    "demo": "world_model_ros.cli.demo",
    "record": "world_model_ros.cli.record",
    "dataset": "world_model_ros.cli.dataset",
    "train": "world_model_ros.cli.train",
    "eval": "world_model_ros.cli.evaluate",
    "bench": "world_model_ros.cli.bench",
    "export": "world_model_ros.cli.export",
    "doctor": "world_model_ros.cli.doctor",
    "adapt": "world_model_ros.cli.adapt",
    "pretrain": "world_model_ros.cli.pretrain",
}

VERB_HELP: dict[str, str] = {
    "demo": "drive the simulator to goals with the MPPI planner on the world model (the main job)",
    "record": "record rosbag2 (MCAP) training data by driving the embedded simulator",
    "dataset": "decode bags into a sharded dataset (Parquet shards + manifest) that train streams",
    "train": "train the latent world model from rosbag2 bags or a dataset folder",
    "eval": "evaluate a checkpoint against the baselines on held-out bags",
    "bench": "run the latency benchmark against the world-model node",
    "export": "export a checkpoint to ONNX",
    "doctor": "check bags (twist vs poses, gaps, command rate, images) and their contact labels",
    "adapt": "adapt the shipped checkpoint to a robot from its own bags (labels, costmap, camera)",
    "pretrain": "pretrain the multi-robot base adapt starts from (randomised simulated robots)",
}


def command_line() -> str:
    """This run's command as a user would type it, for a checkpoint's provenance."""
    return "world-model-ros " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="world-model-ros",
        description="A learned latent world model as a live digital twin of a ROS 2 robot.",
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for verb, module_name in VERBS.items():
        verb_parser = sub.add_parser(verb, help=VERB_HELP[verb], description=VERB_HELP[verb])
        if verb == chosen:  # only the verb that runs pays for its imports
            module = importlib.import_module(module_name)
            module.add_arguments(verb_parser)
            verb_parser.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a user's mistake is one line; anything else keeps its traceback
        from .errors import user_error

        message = user_error(exc)
        if message is None or os.environ.get("WMR_TRACEBACK"):
            raise
        print(f"world-model-ros {args.verb}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
