"""``world-model-ros bench``: the end-to-end latency benchmark (bench/latency.py in a source
checkout).

world-model-ros bench                         # the standard cases (= make bench)
world-model-ros bench -- --soak --seconds 600 # arguments after -- go to bench/latency.py
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HELP = "run the end-to-end latency benchmark against the world-model node"
SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "latency.py"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "args", nargs=argparse.REMAINDER, help="arguments for bench/latency.py (see its --help)"
    )


def run(args: argparse.Namespace) -> int:
    if not SCRIPT.is_file():
        print(
            f"bench: {SCRIPT} not found: the benchmark runs from a source checkout of "
            "world_model_ros"
        )
        return 2
    extra = [a for a in args.args if a != "--"]
    return subprocess.call([sys.executable, str(SCRIPT), *extra])
