"""``world-model-ros pretrain``: the multi-robot base that ``adapt`` starts from.

    world-model-ros pretrain --out world_model_ros/checkpoints/multi_robot

What it does:

1. writes ``--robots`` randomised robot files (sim/random_robots.py: bodies, limits, cameras)
   into ``--data``/robots;
2. records ``--layouts-per-robot`` layouts of each with the embedded simulator, with ground
   truth (the contact topic and the arena map), into ``--data``/bags/<robot>;
3. fine-tunes the shipped default checkpoint on all of them by adapt's recipe (letterbox,
   the last second of commands and speeds, mirror, the costmap-labelled imagined collisions,
   each robot's costmap with its own footprint, the moving average of the weights), and
   writes the checkpoint without a robot section: it is no one robot's model.

Why a base and not the default robot's checkpoint: fine-tuning from a model that has driven
many bodies behind many cameras leaves twenty minutes of a new robot's driving to learn that
robot, not what a camera's view means (docs/any_robot.md, "The multi-robot base"). The
shipped base came from this command with its defaults (about 20 min on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from .main import command_line

HELP = "pretrain the multi-robot base adapt starts from (randomised simulated robots)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .adapt import add_recipe_arguments
    from .bag_input import add_topic_arguments

    parser.add_argument("--out", "-o", type=Path, required=True, help="checkpoint folder to write")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("data") / "pretrain",
        help="folder for the robot files and their bags (default data/pretrain)",
    )
    parser.add_argument("--robots", type=int, default=32, help="randomised robots (default 32)")
    parser.add_argument(
        "--robot-seed", type=int, default=7, help="seed of the robots' draws (default 7)"
    )
    parser.add_argument(
        "--layouts-per-robot", type=int, default=2, help="layouts recorded per robot (default 2)"
    )
    parser.add_argument(
        "--first-layout",
        type=int,
        default=3000,
        help="layout seed of the first robot's first layout; each robot gets the next ones "
        "(default 3000: apart from the demo's 10000- and the examples' 0- and 1000-)",
    )
    parser.add_argument(
        "--episode-seconds", type=float, default=60.0, help="seconds per layout (default 60)"
    )
    parser.add_argument(
        "--reuse-bags",
        action="store_true",
        help="train on the bags already in --data (recorded by an earlier run) instead of "
        "recording them again",
    )
    parser.add_argument(
        "--init", type=Path, help="checkpoint to start from (default: the shipped default)"
    )
    parser.add_argument(
        "--max-minutes", type=float, default=60.0, help="training budget (default 60)"
    )
    add_recipe_arguments(parser, steps=6000)
    add_topic_arguments(parser)
    parser.set_defaults(derive_contacts="auto")


def run(args: argparse.Namespace) -> int:
    from ..core.model.checkpoint import CheckpointError, load_checkpoint
    from ..sim.random_robots import write_random_robots

    started = time.monotonic()
    if args.robots < 1 or args.layouts_per_robot < 1 or args.episode_seconds <= 0:
        print(
            "pretrain: need --robots >= 1, --layouts-per-robot >= 1, --episode-seconds > 0",
            file=sys.stderr,
        )
        return 2
    try:
        init_model, _ = load_checkpoint(args.init)
        robots = write_random_robots(args.data / "robots", args.robots, args.robot_seed)
    except (CheckpointError, ValueError) as error:
        print(f"pretrain: {error}", file=sys.stderr)
        return 2
    bags = {robot.name: args.data / "bags" / robot.name for _, robot in robots}
    for index, (path, robot) in enumerate(robots):
        if args.reuse_bags and bags[robot.name].is_dir():
            continue
        status = _record(args, index, path, bags[robot.name])
        if status:
            return status
    return _train(args, init_model, robots, bags, started)


def _record(args: argparse.Namespace, index: int, robot_file: Path, out: Path) -> int:
    """Record one robot's layouts through ``record`` itself (what a user would type)."""
    from . import record

    first = args.first_layout + index * args.layouts_per_robot
    parser = argparse.ArgumentParser(prog="world-model-ros record")
    record.add_arguments(parser)
    argv = [
        "--robot",
        str(robot_file),
        "--output",
        str(out),
        "--layouts",
        f"{first}:{first + args.layouts_per_robot}",
        "--episodes",
        "1",
        "--episode-seconds",
        str(args.episode_seconds),
        "--seed",
        str(index),
        "--workers",
        str(max(1, args.threads)),
        "--overwrite",
        "--quiet",
    ]
    status = record.run(parser.parse_args(argv))
    if status:
        print(f"pretrain: recording {robot_file.stem} failed (exit {status})", file=sys.stderr)
    return status


def _train(args: argparse.Namespace, init_model, robots, bags: dict, started: float) -> int:
    import torch

    from ..core.data.windows import split_by_episode
    from ..core.model.checkpoint import update_config
    from ..core.training.costmap_loss import windows_with_costmap
    from ..core.training.occupancy_derived import build_grids
    from ..core.training.trainer import train
    from .adapt import recipe_config
    from .bag_input import load_bags
    from .robot_input import apply_contact_labels

    torch.set_num_threads(max(1, args.threads))
    config = recipe_config(args, init_model, validation_fraction=0.1)
    model_config = config.model
    episodes, grids = [], {}
    for _, robot in robots:
        loaded, _ = load_bags(
            [bags[robot.name]],
            args,
            model_config.image_size,
            log=lambda *_: None,
            image_fit=model_config.image_fit,
        )
        apply_contact_labels(loaded, args, robot, need_labels=True, log=lambda *_: None)
        # each robot's costmap labels with its own footprint
        grids.update(build_grids(loaded, robot.footprint_spec().circumscribed_radius_m, {}))
        episodes += loaded
    print(f"pretrain: {len(episodes)} episodes of {len(robots)} robots loaded")
    train_episodes, val_episodes = split_by_episode(
        episodes, config.validation_fraction, config.seed
    )
    train_windows = windows_with_costmap(train_episodes, model_config, grids)
    val_windows = windows_with_costmap(val_episodes, model_config, grids)
    budget = max(1.0, args.max_minutes - (time.monotonic() - started) / 60)
    data_info = {
        "robots": [robot.name for _, robot in robots],
        "robot_seed": args.robot_seed,
        "command": command_line(),
    }
    result = train(
        train_windows,
        val_windows,
        dataclasses.replace(config, max_minutes=budget),
        args.out,
        torch.device("cpu"),
        data_info=data_info,
        init_model=init_model,
        progress=not args.quiet,
    )
    (Path(args.out) / "train_state.pt").unlink(missing_ok=True)
    minutes = (time.monotonic() - started) / 60
    update_config(args.out, pretrain={"robots": len(robots), "minutes_total": round(minutes, 2)})
    print(
        f"pretrain: {result.steps} steps (best at {result.best_step}); {minutes:.1f} min in "
        f"all; base in {args.out} (adapt --init {args.out})"
    )
    return 0
