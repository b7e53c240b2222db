"""``world-model-ros adapt``: one command from a robot's own bags to a deployable checkpoint.

    world-model-ros adapt my_bags/ --robot config/robots/my_robot.yaml --out checkpoints/my_robot

What it does, in one process (the bags are read once):

1. the data doctor checks every bag (``--skip-bad`` leaves unusable ones out);
2. contact labels: the contact topic if the bags have one, else a bumper (``--bumper-topic``)
   and/or contacts derived from commanded versus measured motion (core/data/labels.py), with
   the robot file's limits;
3. costmap labels from where the footprint went and was blocked, plus ``--scan-topic``
   LaserScans when the bags have them (core/data/occupancy_labels.py);
4. fine-tunes the shipped multi-robot base (``--init``; ``pretrain`` made it from randomised
   simulated robots) on the bags, the derived costmap standing in
   for the map in the footprint loss (core/training/costmap_loss.py), its encoder given the
   last second of commands and measured speeds as well (``--history-steps``; a stall is a
   contact the frame may not show);
5. calibrates the predicted variances on the held-out episodes (core/training/calibration.py);
6. trains the occupancy head on the frozen result from the same costmap labels;
7. writes the checkpoint with its ``robot`` (footprint, limits) and ``camera`` sections
   (core/model/checkpoint_robot.py) and an ``adaptation`` report.

The footprint comes from the robot file (or ``--footprint-radius``); the camera from the
bags' camera_info (else the robot file). Budgeted to finish within ``--max-minutes`` (default
12) on a 2-core CPU: the fine-tuning gets what the rest leaves.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from .main import command_line

HELP = "adapt the shipped checkpoint to a robot from its own bags (labels, costmap, camera)"
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent.parent / "config" / "train.yaml"
# What adaptation starts from: the default robot's checkpoint fine-tuned on 32 randomised
# robots by ``pretrain`` (docs/any_robot.md, "The multi-robot base")
BASE_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "multi_robot"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .bag_input import add_topic_arguments
    from .robot_input import add_robot_arguments

    parser.add_argument("bags", nargs="+", type=Path, help="the robot's rosbag2 bags or folders")
    parser.add_argument("--out", "-o", type=Path, required=True, help="checkpoint folder to write")
    parser.add_argument(
        "--init",
        type=Path,
        help="checkpoint to start from (default: the shipped multi-robot base, "
        "checkpoints/multi_robot; the default robot's checkpoint is checkpoints/default)",
    )
    parser.add_argument(
        "--from-scratch",
        action="store_true",
        help="train a new model on these bags alone (architecture from --config) instead of "
        "fine-tuning",
    )
    add_recipe_arguments(parser, steps=2500)
    parser.add_argument(
        "--occupancy-steps", type=int, default=1500, help="occupancy head steps (default 1500)"
    )
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=12.0,
        help="wall-clock budget of the whole adaptation (default 12)",
    )
    parser.add_argument(
        "--scan-sectors",
        type=int,
        default=-1,
        help="the LiDAR as an encoder input, the nearest return in each of N sectors around "
        "the robot (default -1: 24 when the bags have LaserScans on --scan-topic, else none; "
        "0 = none): it sees what the camera cannot, below, beside and behind",
    )
    parser.add_argument(
        "--scan-range",
        type=float,
        default=3.0,
        help="range (m) the scan input reaches; nearer returns count (default 3)",
    )
    parser.add_argument(
        "--footprint-radius",
        type=float,
        help="the robot's radius in metres when there is no robot file",
    )
    add_topic_arguments(parser)
    add_robot_arguments(parser)


def add_recipe_arguments(parser: argparse.ArgumentParser, steps: int) -> None:
    """The training recipe's flags (what :func:`recipe_config` reads), shared with
    ``pretrain``."""
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help="hyperparameters (config/train.yaml)"
    )
    parser.add_argument(
        "--image-fit",
        choices=("crop", "letterbox"),
        default="letterbox",
        help="how frames become the encoder's square input (default letterbox: a wide "
        "camera's whole view, its sides are where the grazes come from; measured better than "
        "crop on both simulated robots, docs/any_robot.md; a square camera's frames are the "
        "same either way)",
    )
    parser.add_argument(
        "--history-steps",
        type=int,
        default=10,
        help="model steps of past commands and measured speeds the encoder sees (default 10, "
        "1 s: a stall, motion commanded and not made, is a contact the frame may not show; "
        "measured better on both simulated robots, docs/any_robot.md; 0 = none)",
    )
    parser.add_argument(
        "--imagined-sequences",
        type=int,
        default=2,
        help="command sequences per window whose collisions the costmap labels (default 2)",
    )
    parser.add_argument(
        "--footprint-weight",
        type=float,
        default=4.0,
        help="weight of predicted footprints overlapping the costmap (default 4)",
    )
    parser.add_argument(
        "--costmap-collision",
        type=float,
        default=1.0,
        help="weight of that collision term (default 1; 0 = off)",
    )
    parser.add_argument(
        "--mirror",
        type=float,
        default=0.5,
        help="share of training windows mirrored left-right (default 0.5; 0 = off)",
    )
    parser.add_argument(
        "--steps", type=int, default=steps, help=f"training steps (default {steps})"
    )
    parser.add_argument(
        "--ema-decay",
        type=float,
        default=0.998,
        help="keep a moving average of the weights, this much of the old per step (default "
        "0.998, about the last 500 steps; 0 = the last step's weights)",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of split and sampling")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def recipe_config(args: argparse.Namespace, init_model, validation_fraction: float):
    """The adaptation recipe as a TrainConfig: ``--config``'s settings, the starting model's
    architecture (or the config's, from scratch) given the recipe's inputs (``--image-fit``,
    ``--history-steps``), calibration reset, and the recipe's flags. ``pretrain`` trains the
    multi-robot base by the same recipe, so adaptation starts from a model trained as it
    trains."""
    from ..core.training.train_config import TrainConfig

    base = TrainConfig.from_yaml(args.config)
    model_config = dataclasses.replace(
        base.model if init_model is None else init_model.config,
        position_var_scale=1.0,
        yaw_var_scale=1.0,
        contact_var_gain=0.0,
        image_fit=args.image_fit,
        history_steps=args.history_steps,
    )
    return dataclasses.replace(
        base,
        loss=dataclasses.replace(
            base.loss, costmap_collision=args.costmap_collision, footprint=args.footprint_weight
        ),
        model=model_config,
        mirror_probability=args.mirror,
        selection_collision_weight=0.25,
        imagined_sequences=args.imagined_sequences,
        steps=args.steps,
        ema_decay=args.ema_decay,
        seed=args.seed,
        num_threads=args.threads,
        validation_fraction=validation_fraction,
    )


def run(args: argparse.Namespace) -> int:
    import torch

    from ..core.model.checkpoint import CheckpointError, load_checkpoint
    from .robot_input import load_robot_arg

    started = time.monotonic()
    try:
        robot = load_robot_arg(args)
        if robot is None and not args.footprint_radius:
            raise ValueError("give the robot file (--robot) or its size (--footprint-radius)")
        init_model, init_config = load_checkpoint(args.init or BASE_CHECKPOINT)
    except (CheckpointError, ValueError) as error:
        print(f"adapt: {error}", file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, args.threads))
    try:
        return _adapt(args, robot, init_model, init_config, started)
    except (ValueError, RuntimeError) as error:
        print(f"adapt: {error}", file=sys.stderr)
        return 2


def _adapt(args, robot, init_model, init_config, started: float) -> int:
    import torch

    from ..core.data.camera import Footprint
    from ..core.data.scans import attach_scan_inputs, scans_by_bag
    from ..core.data.windows import split_by_episode
    from ..core.model.checkpoint import save_checkpoint, save_occupancy_head, update_config
    from ..core.model.latent_predictor import LatentPredictor
    from ..core.training.calibration import calibrate_variance
    from ..core.training.costmap_loss import windows_with_costmap
    from ..core.training.occupancy import OccupancyTrainConfig
    from ..core.training.occupancy_derived import build_grids, train_occupancy_head_derived
    from ..core.training.trainer import train
    from .bag_input import load_bags
    from .robot_input import apply_contact_labels
    from .train import checkpoint_robot_sections

    if args.from_scratch:
        init_model, init_config = None, {}
    config = recipe_config(args, init_model, validation_fraction=0.15)
    model_config = config.model
    footprint = (
        robot.footprint_spec()
        if robot is not None
        else Footprint(kind="circle", radius_m=float(args.footprint_radius))
    )
    episodes, data_info = load_bags(
        args.bags, args, model_config.image_size, image_fit=model_config.image_fit
    )
    data_info["labels"] = apply_contact_labels(episodes, args, robot, need_labels=True)
    scans = {}
    forward = robot.lidar.forward_m if robot is not None and robot.lidar else 0.0
    if args.scan_topic:
        scans = scans_by_bag(episodes, args.scan_topic, forward)
        print(
            f"adapt: LaserScan: {sum(len(s) for s in scans.values())} scans in {len(scans)} bag(s)"
        )
    sectors = args.scan_sectors if args.scan_sectors >= 0 else (24 if scans else 0)
    if model_config.scan_sectors and not sectors:
        raise ValueError(
            f"the starting checkpoint takes a LaserScan ({model_config.scan_sectors} sectors) "
            f"and these bags give none on '{args.scan_topic}' (pass --scan-topic, or start "
            "from a checkpoint without one)"
        )
    if sectors:
        if not scans:
            raise ValueError(
                f"--scan-sectors {sectors}: no LaserScan on '{args.scan_topic}' in these bags "
                "(pass --scan-topic, or --scan-sectors 0)"
            )
        model_config = dataclasses.replace(
            model_config,
            scan_sectors=sectors,
            scan_range_m=args.scan_range,
            scan_forward_m=forward,
        )
        config = dataclasses.replace(config, model=model_config)
        with_scans = attach_scan_inputs(episodes, scans, sectors, args.scan_range)
        print(
            f"adapt: the encoder takes the LaserScan ({sectors} sectors to {args.scan_range:g} "
            f"m); {with_scans} of {len(episodes)} episode(s) have scans"
        )
    grids = build_grids(episodes, footprint.circumscribed_radius_m, scans)
    occupied = sum(g.counts["occupied_cells"] for g in grids.values())
    free = sum(g.counts["free_cells"] for g in grids.values())
    print(f"adapt: costmap labels: {free} free and {occupied} occupied cells (0.05 m)")
    train_episodes, val_episodes = split_by_episode(
        episodes, config.validation_fraction, config.seed
    )
    train_windows = windows_with_costmap(train_episodes, model_config, grids)
    val_windows = windows_with_costmap(val_episodes, model_config, grids)
    loaded_min = (time.monotonic() - started) / 60
    # The occupancy head and calibration take about 2.5 min here; the fine-tuning gets the rest.
    budget = max(1.0, args.max_minutes - loaded_min - 2.5)
    config = dataclasses.replace(config, max_minutes=budget)
    print(
        f"adapt: {len(train_windows)} training windows ({len(train_episodes)} episodes), "
        f"{len(val_windows)} validation windows ({len(val_episodes)} episodes); loaded in "
        f"{loaded_min:.1f} min; fine-tuning {config.steps} steps within {budget:.1f} min"
    )
    data_info["init_checkpoint"] = (
        "none (from scratch)"
        if init_model is None
        else str(args.init or "shipped multi-robot base")
    )
    init_data = init_config.get("training", {}).get("data", {})
    data_info["init_layout_seeds"] = init_data.get("layout_seeds", "")
    data_info["command"] = command_line()
    result = train(
        train_windows,
        val_windows,
        config,
        args.out,
        torch.device("cpu"),
        data_info=data_info,
        init_model=init_model,
        progress=not args.quiet,
    )
    from ..core.model.checkpoint import load_checkpoint

    best, best_config = load_checkpoint(args.out)
    # contact windows get a margin: held-out robots' contacts were covered ~3 points less than
    # the validation episodes' (docs/any_robot.md)
    calibrated, calibration = calibrate_variance(best, val_windows, min_contact=0.95)
    save_checkpoint(args.out, calibrated, training=best_config["training"])
    print(
        f"adapt: variance scale {calibration['position_var_scale']:.2f}, contact gain "
        f"{calibration['contact_var_gain']:g} (validation coverage "
        f"{calibration['coverage_before']:.2f} -> {calibration['coverage_after']:.2f}, contact "
        f"windows {calibration['contact_coverage_before']:.2f} -> "
        f"{calibration['contact_coverage_after']:.2f})"
    )
    predictor = LatentPredictor(calibrated, torch.device("cpu"), model_id="adapt")
    head, occupancy = train_occupancy_head_derived(
        predictor,
        episodes,
        footprint.circumscribed_radius_m,
        scans,
        OccupancyTrainConfig(steps=args.occupancy_steps, seed=args.seed),
        progress=not args.quiet,
    )
    occupancy["command"] = data_info["command"]
    save_occupancy_head(args.out, head, occupancy)
    (Path(args.out) / "train_state.pt").unlink(missing_ok=True)  # deployable: weights + config
    minutes = (time.monotonic() - started) / 60
    sections = checkpoint_robot_sections(robot, data_info, model_config.image_fit)
    if robot is None:
        from ..core.model.checkpoint_robot import robot_sections

        # No robot file: the limits the contact labels were derived with (estimated from the
        # bags: what the base was seen to do; the model knows no faster motion either)
        seen = data_info["labels"].get("limits")
        sections.update(
            robot_sections(
                None,
                footprint,
                None,
                model_config.image_fit,
                limits=seen,
                source="--footprint-radius" + ("; limits estimated from the bags" if seen else ""),
            )
        )
    update_config(
        args.out,
        training_total={
            "steps": result.steps,
            "minutes": round(result.minutes, 2),
            "stopped_by": result.stopped_by,
            "best_step": result.best_step,
        },
        collision_head="trained",
        adaptation={
            "minutes_total": round(minutes, 2),
            "calibration": calibration,
            "costmap_labels": {"free_cells": free, "occupied_cells": occupied},
        },
        **sections,
    )
    print(
        f"adapt: {result.steps} steps (best at {result.best_step}), occupancy head validation "
        f"AUROC on labelled cells {occupancy['validation']['auroc_labelled_in_view']:.3f}; "
        f"{minutes:.1f} min in all; checkpoint in {args.out}"
    )
    print(f"adapt: next: world-model-ros eval <held-out bags> --checkpoint {args.out}")
    return 0
