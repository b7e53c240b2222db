"""``world-model-ros train``: train the latent world model from rosbag2 bags or a dataset folder.

Example (the shipped checkpoint, docs/world_model.md):

    world-model-ros train data/train --out runs/latent --seed 0

A folder from ``world-model-ros dataset build`` is streamed from its shards, and the same
command runs data-parallel under torchrun (docs/training_at_scale.md):

    torchrun --nproc-per-node 2 -m world_model_ros.cli.main train data/fleet_ds --out runs/fleet

Hyperparameters come from config/train.yaml (``--config``); the flags below override the few
that are changed per run. The output folder holds the best checkpoint on the validation
layouts (config.json + model.safetensors) and train_state.pt for ``--resume``.

``--occupancy-head CHECKPOINT`` trains only the occupancy head (core/model/occupancy_head.py) of an
existing checkpoint, its world model frozen, and adds it to that folder:

    world-model-ros train data/train --occupancy-head runs/latent

A robot's own bags (no contact topic, no arena map): contact labels are derived from
commanded versus measured motion (``--derive-contacts``, core/data/labels.py) and from a bumper
(``--bumper-topic``); ``train`` prints which label sources it used and how many labels each
gave, and refuses to train a collision head from nothing. ``--robot`` names the robot file whose
limits the derivation uses and whose footprint and camera the checkpoint records.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from .main import command_line

HELP = "train the latent world model from rosbag2 bags or a dataset folder"
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent.parent / "config" / "train.yaml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from . import train_input
    from .bag_input import add_topic_arguments
    from .robot_input import add_robot_arguments

    parser.add_argument(
        "bags",
        nargs="+",
        type=Path,
        help="rosbag2 bags, folders holding bags, or one dataset folder (dataset build)",
    )
    parser.add_argument(
        "--out",
        "-o",
        type=Path,
        default=Path("runs/latent"),
        help="output folder for the checkpoint (default runs/latent)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help="hyperparameters (default config/train.yaml)",
    )
    parser.add_argument("--steps", type=int, help="optimiser steps (overrides the config)")
    parser.add_argument(
        "--max-minutes", type=float, help="wall-clock budget; 0 = none (overrides the config)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        help="seed of initialisation, split and sampling (overrides the config)",
    )
    parser.add_argument("--batch-size", type=int, help="windows per step (overrides the config)")
    parser.add_argument(
        "--no-camera", action="store_true", help="train the no-camera ablation (use_camera: false)"
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA when present), cpu, cuda, cuda:N (default auto)",
    )
    parser.add_argument(
        "--threads", type=int, help="torch CPU threads (overrides the config's num_threads)"
    )
    parser.add_argument(
        "--init",
        type=Path,
        metavar="CHECKPOINT",
        help="fine-tune: start from this checkpoint's weights and normalisation",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its train_state.pt"
    )
    parser.add_argument(
        "--occupancy-head",
        type=Path,
        metavar="CHECKPOINT",
        help="train only the occupancy head of this checkpoint and add it there (from the arena "
        "map of simulator bags, else from costmap labels of the robot's experience)",
    )
    parser.add_argument(
        "--no-collision-head",
        action="store_true",
        help="train without collision labels (collision loss off; the checkpoint says so)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    train_input.add_arguments(parser)
    add_topic_arguments(parser)
    add_robot_arguments(parser)


def build_config(args: argparse.Namespace):
    from ..core.training.train_config import TrainConfig

    config = TrainConfig.from_yaml(args.config)
    overrides = {
        name: value
        for name, value in (
            ("steps", args.steps),
            ("max_minutes", args.max_minutes),
            ("seed", args.seed),
            ("batch_size", args.batch_size),
            ("num_threads", args.threads),
        )
        if value is not None
    }
    if args.no_camera:
        overrides["model"] = dataclasses.replace(config.model, use_camera=False)
    if getattr(args, "no_collision_head", False):
        overrides["loss"] = dataclasses.replace(config.loss, collision=0.0)
    return dataclasses.replace(config, **overrides)


def run_occupancy(args: argparse.Namespace) -> int:
    """``--occupancy-head``: fit the head on the frozen model, write it into the checkpoint."""
    import torch

    from ..core.model.checkpoint import CheckpointError, load_latent_model, save_occupancy_head
    from ..core.model.registry import resolve_device
    from ..core.training.occupancy import OccupancyTrainConfig, train_occupancy_head
    from ..core.training.occupancy_derived import train_occupancy_head_derived
    from .bag_input import load_bags
    from .robot_input import apply_contact_labels, load_robot_arg

    try:
        device = resolve_device(args.device)
        predictor = load_latent_model(args.occupancy_head, device)
        robot = load_robot_arg(args)
        overrides = {
            name: value
            for name, value in (
                ("steps", args.steps),
                ("seed", args.seed),
                ("batch_size", args.batch_size),
            )
            if value is not None
        }
        config = OccupancyTrainConfig(**overrides)
        if args.threads:
            torch.set_num_threads(args.threads)
        episodes, data_info = load_bags(
            args.bags, args, predictor.config.image_size, image_fit=predictor.config.image_fit
        )
        if all(e.arena is not None for e in episodes):
            head, report = train_occupancy_head(
                predictor, episodes, config, progress=not args.quiet
            )
        else:  # no map: costmap labels from the robot's experience (and its LaserScans)
            footprint = robot.footprint_spec() if robot is not None else predictor.footprint
            if footprint is None:
                raise ValueError(
                    "bags without an arena map need the robot's footprint: pass --robot (the "
                    "checkpoint does not record one)"
                )
            data_info["labels"] = apply_contact_labels(episodes, args, robot, need_labels=False)
            head, report = train_occupancy_head_derived(
                predictor,
                episodes,
                footprint.circumscribed_radius_m,
                _scans(args, episodes, robot),
                config,
                progress=not args.quiet,
            )
    except (CheckpointError, ValueError, RuntimeError) as error:
        print(f"train: --occupancy-head: {error}", file=sys.stderr)
        return 2
    report["data"] = data_info
    report["command"] = command_line()
    save_occupancy_head(args.occupancy_head, head, report)
    v = report["validation"]
    if "auroc_labelled_in_view" in v:
        labels = report["labels"]
        print(
            f"train: occupancy head in {args.occupancy_head} ({report['minutes']:.1f} min, best "
            f"step {report['best_step']}) from derived costmap labels ({labels['source']}: "
            f"{labels['free_cells']} free, {labels['occupied_cells']} occupied cells); "
            f"validation episodes, labelled cells in view: AUROC "
            f"{v['auroc_labelled_in_view']:.3f}"
        )
        return 0
    print(
        f"train: occupancy head in {args.occupancy_head} ({report['minutes']:.1f} min, best step "
        f"{report['best_step']}); validation layouts, cells in view within "
        f"{config.report_range_m} m between the "
        f"walls: AUROC {v['auroc_in_view']:.3f}, precision {v['precision_in_view']:.3f}, recall "
        f"{v['recall_in_view']:.3f} at P 0.5"
    )
    return 0


def _scans(args: argparse.Namespace, episodes, robot) -> dict:
    """LaserScans of the bags on ``--scan-topic`` (bag -> scans), for the costmap labels."""
    from ..core.data.scans import scans_by_bag

    if not getattr(args, "scan_topic", ""):
        return {}
    forward = robot.lidar.forward_m if robot is not None and robot.lidar else 0.0
    return scans_by_bag(episodes, args.scan_topic, forward)


def run(args: argparse.Namespace) -> int:

    if args.occupancy_head is not None:
        return run_occupancy(args)

    from ..core.model.registry import resolve_device
    from ..core.training import distributed
    from .robot_input import load_robot_arg

    try:
        config = build_config(args)
        robot = load_robot_arg(args)
        dist, device = distributed.init_distributed(resolve_device(args.device))
    except (ValueError, RuntimeError) as error:
        print(f"train: {error}", file=sys.stderr)
        return 2
    try:
        return _run_training(args, config, dist, device, robot)
    finally:
        distributed.shutdown(dist)


def _run_training(args: argparse.Namespace, config, dist, device, robot) -> int:
    import torch

    from ..core.model.checkpoint import CheckpointError, load_checkpoint, update_config
    from ..core.training.trainer import train
    from .train_input import load_training_data

    def log(text: str) -> None:
        if dist.is_main:
            print(text)

    init_model = None
    if args.init is not None:
        try:
            init_model, init_config = load_checkpoint(args.init)
        except CheckpointError as error:
            print(f"train: --init: {error}", file=sys.stderr)
            return 2
        # the contact gain is fitted after training (adapt's calibration), never trained with:
        # in the loss it would tie the variance to the collision head
        if init_model.config.contact_var_gain:
            init_model = init_model.with_variance_calibration(
                init_model.config.position_var_scale, init_model.config.yaw_var_scale, 0.0
            )
        if init_model.config != config.model:
            config = dataclasses.replace(config, model=init_model.config)
            print(
                "train: --init: using the architecture of the initial checkpoint", file=sys.stderr
            )
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    if config.model.dt_s != args.dt:
        print(
            f"train: --dt {args.dt} differs from the model's dt_s {config.model.dt_s}",
            file=sys.stderr,
        )
        return 2

    horizon = config.model.horizon
    try:
        train_windows, val_windows, data_info = load_training_data(args, config, dist, robot, log)
    except ValueError as error:
        print(f"train: {error}", file=sys.stderr)
        return 2
    log(
        f"train: device {device}, {torch.get_num_threads()} CPU thread(s)"
        + (f", rank 0 of {dist.world_size} ({dist.backend})" if dist.active else "")
    )
    if dist.active:
        data_info["world_size"] = dist.world_size
    if args.init is not None:
        data_info["init_checkpoint"] = str(args.init)
        init_data = init_config.get("training", {}).get("data", {})
        # what the starting checkpoint saw counts as seen: eval's held-out check reads this
        data_info["init_layout_seeds"] = init_data.get("layout_seeds", "")
        data_info["init_bags_without_layout_identity"] = init_data.get(
            "bags_without_layout_identity", 0
        )
    data_info["command"] = command_line()
    try:
        result = train(
            train_windows,
            val_windows,
            config,
            args.out,
            device,
            data_info=data_info,
            init_model=init_model,
            resume=args.resume,
            progress=not args.quiet,
            log=log,
            dist=dist,
        )
    except (ValueError, FileNotFoundError) as error:
        print(f"train: {error}", file=sys.stderr)
        return 2
    if not dist.is_main:
        return 0
    update_config(
        args.out,
        training_total={
            "steps": result.steps,
            "minutes": round(result.minutes, 2),
            "stopped_by": result.stopped_by,
            "best_step": result.best_step,
        },
        collision_head="trained" if config.loss.collision > 0 else "not trained",
        **checkpoint_robot_sections(robot, data_info, config.model.image_fit),
    )
    best = result.best_validation
    print(
        f"train: {result.steps} steps in {result.minutes:.1f} min (stopped by "
        f"{result.stopped_by}); best on "
        f"validation at step {result.best_step}: ADE@{horizon * config.model.dt_s:.0f}s-window "
        f"{best.get('ade_m', float('nan')):.3f} m, FDE {best.get('fde_m', float('nan')):.3f} m, "
        f"collision BCE {best.get('collision', float('nan')):.3f}"
    )
    print(f"train: checkpoint in {args.out}")
    return 0


def checkpoint_robot_sections(robot, data_info: dict, image_fit: str) -> dict:
    """The checkpoint's ``robot`` and ``camera`` sections (core/model/checkpoint_robot.py):
    footprint and limits from the robot file, the camera from the bags' camera_info (else the
    robot file, else the frames' size)."""
    from ..core.data.camera import CameraSpec
    from ..core.model.checkpoint_robot import robot_sections

    cameras = [CameraSpec.from_dict(c) for c in data_info.get("cameras", [])]
    camera = next((c for c in cameras if c.source == "camera_info"), None)
    if camera is None and robot is not None:
        camera = robot.camera_spec()
    camera = camera or (cameras[0] if cameras else None)
    return robot_sections(
        None if robot is None else robot.name,
        None if robot is None else robot.footprint_spec(),
        camera,
        image_fit,
        limits=None if robot is None else vars(robot.limits),
        source="" if robot is None else robot.source,
    )
