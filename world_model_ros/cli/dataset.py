"""``world-model-ros dataset``: decode bags once into a sharded dataset folder that ``train``
streams from (core/data/build.py, docs/training_at_scale.md).

    world-model-ros dataset build data/fleet/robot_a data/fleet/robot_b --out data/fleet_ds
    world-model-ros dataset build data/fleet/new_bags --out data/fleet_ds   # appends
    world-model-ros dataset build data/rover --out data/fleet_ds --robot large  # its limits
    world-model-ros dataset info data/fleet_ds
    world-model-ros dataset verify data/fleet_ds                            # every checksum
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

HELP = "decode bags into a sharded dataset (Parquet shards + manifest) that train streams"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .bag_input import add_topic_arguments

    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    build = sub.add_parser("build", help="decode bags into DIR (appends when DIR exists)")
    build.add_argument("bags", nargs="+", type=Path, help="rosbag2 bags, or folders holding bags")
    build.add_argument("--out", "-o", type=Path, required=True, help="dataset folder")
    build.add_argument(
        "--workers", type=int, default=0, help="decoding processes (default: one per core)"
    )
    build.add_argument(
        "--robot",
        help="robot of these bags: a robot file (a name under config/robots/ or a YAML path) "
        "gives its name and the base limits for derived contact labels; any other name is "
        "recorded as it is and the limits are estimated from each bag (default: the name from "
        "the bag, else unknown)",
    )
    build.add_argument(
        "--derive-contacts",
        choices=("auto", "always", "never"),
        default="auto",
        help="contact labels from commanded vs measured motion: auto = for bags without a "
        "contact topic, joined with --bumper-topic (default), always = even where there is "
        "one, never = off",
    )
    build.add_argument(
        "--image-size", type=int, default=64, help="frames are stored S x S (default 64)"
    )
    build.add_argument(
        "--image-fit",
        choices=("crop", "letterbox"),
        default="crop",
        help="how frames of another aspect become S x S; must match the model's image_fit "
        "(default crop)",
    )
    build.add_argument(
        "--shard-mb", type=float, default=128.0, help="shard file size cap (default 128)"
    )
    build.add_argument(
        "--segment-steps",
        type=int,
        default=1200,
        help="longer episodes are stored in segments of this many steps (default 1200)",
    )
    build.add_argument(
        "--overlap-steps",
        type=int,
        default=64,
        help="steps a segment shares with the next; the largest horizon trainable (default 64)",
    )
    build.add_argument(
        "--scan-sectors",
        type=int,
        default=0,
        help="keep the encoder's LaserScan input (the nearest return in each of N sectors, "
        "from --scan-topic) for a model that takes one; must match its scan_sectors (adapt's "
        "default is 24; default 0 = none)",
    )
    build.add_argument(
        "--scan-range",
        type=float,
        default=3.0,
        help="metres the scan input reaches (default 3.0, as adapt and the model config)",
    )
    build.add_argument(
        "--scan-forward",
        type=float,
        help="the LiDAR's position ahead of base_link, m (default: the --robot file's lidar, "
        "else 0)",
    )
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    add_topic_arguments(build)
    info = sub.add_parser("info", help="summarise a dataset folder")
    info.add_argument("dataset", type=Path)
    verify = sub.add_parser("verify", help="check every shard's checksum and records")
    verify.add_argument("dataset", type=Path)
    verify.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..core.data.shards import ShardError

    try:
        return {"build": run_build, "info": run_info, "verify": run_verify}[args.action](args)
    except (ShardError, ValueError) as error:
        print(f"dataset {args.action}: {error}", file=sys.stderr)
        return 2


def robot_labels(name: str | None, derive: str) -> tuple[str | None, dict, float]:
    """``--robot`` -> (the robot name recorded, how build_one_bag labels contacts, its LiDAR's
    mount ahead of base_link). A robot file gives its name, base limits and LiDAR; a name that
    is not one (a real robot's, with no file here) is kept as it is, the limits are estimated
    from each bag and the mount is 0. A robot file that does not load is a ValueError
    (RobotFileError) with its one-line reason."""
    from ..sim.robots import load_robot, robot_path
    from .robot_input import base_limits

    labels: dict = {"derive": derive}
    if not name:
        return None, labels, 0.0
    path = robot_path(name)
    if not (path.is_file() or Path(name).suffix in (".yaml", ".yml") or "/" in name):
        return name, labels, 0.0
    robot = load_robot(name)
    labels["limits"] = dataclasses.asdict(base_limits(robot))
    labels["limits_from"] = f"robot file {robot.name} ({robot.source})"
    return robot.name, labels, robot.lidar.forward_m if robot.lidar is not None else 0.0


def run_build(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..core.data.bag_format import BagTopics, find_bags
    from ..core.data.build import bag_bytes, build_dataset
    from ..core.data.manifest import DatasetSettings

    missing = [str(p) for p in args.bags if not p.exists()]
    if missing:
        print(f"dataset build: no such bag or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    topics = BagTopics(
        image=args.image_topic,
        compressed_image=args.compressed_image_topic,
        odom=args.odom_topic,
        command=args.cmd_topic,
        contact=args.contact_topic or None,
        camera_info=args.camera_info_topic or None,
        bumper=args.bumper_topic or None,
        bumper_field=args.bumper_field,
    )
    robot, labels, lidar_forward = robot_labels(args.robot, args.derive_contacts)
    scan_forward = args.scan_forward
    if scan_forward is None:
        scan_forward = lidar_forward if args.scan_sectors else 0.0
    settings = DatasetSettings(
        dt_s=args.dt,
        image_size=args.image_size,
        segment_steps=args.segment_steps,
        overlap_steps=args.overlap_steps,
        shard_mb=args.shard_mb,
        topics=dataclasses.asdict(topics),
        image_fit=args.image_fit,
        twist_from_poses=args.twist_from_poses,
        scan_sectors=args.scan_sectors,
        scan_range_m=args.scan_range,
        scan_forward_m=scan_forward,
        scan_topic=args.scan_topic if args.scan_sectors else "",
    )
    bags = find_bags(args.bags)
    if not bags:
        print(f"dataset build: no bags in {', '.join(map(str, args.bags))}", file=sys.stderr)
        return 2
    total = sum(bag_bytes(b) for b in bags)
    with tqdm(
        total=total, unit="B", unit_scale=True, disable=args.quiet, desc="dataset build"
    ) as bar:
        summary = build_dataset(
            bags, args.out, settings, args.workers, robot, bar.update, bar.write, labels
        )
    if summary.estimated_limits_bags:
        why = f"--robot {args.robot} is not a robot file" if args.robot else "no --robot"
        print(
            f"dataset build: {why}: base limits for the derived contact labels estimated from "
            f"each bag ({summary.estimated_limits_bags} bag(s); a robot file gives them)"
        )
    hours = summary.samples * args.dt / 3600
    print(
        f"dataset build: {summary.added_bags} bag(s) added to {args.out} ({summary.records} "
        f"records, {summary.samples} samples = {hours:.2f} h, "
        f"{summary.shard_bytes / 2**20:.1f} MiB of shards) in {summary.seconds:.1f} s"
        + (f"; {len(summary.skipped_bags)} already there" if summary.skipped_bags else "")
        + (f"; {len(summary.failed_bags)} failed" if summary.failed_bags else "")
        + (f"; labels: {summary.label_line()}" if summary.label_episodes else "")
        + (
            f"; LaserScan input ({args.scan_sectors} sectors) in {summary.scan_episodes} of "
            f"{summary.episodes} episode(s), the others read as 'no scan'"
            if args.scan_sectors
            else ""
        )
    )
    if not (summary.added_bags or summary.skipped_bags):
        return 2
    if summary.failed_bags and not args.skip_bad:
        print(
            f"dataset build: {len(summary.failed_bags)} bag(s) not added (see above): fix them "
            "and build again (the others are kept), or pass --skip-bad to accept leaving them out",
            file=sys.stderr,
        )
        return 1
    return 0


def run_info(args: argparse.Namespace) -> int:
    from ..core.data.manifest import ShardDataset

    dataset = ShardDataset(args.dataset)
    robots: dict[str, int] = {}
    for record in dataset.records:
        robots[record.get("robot", "unknown")] = robots.get(record.get("robot", "unknown"), 0) + (
            int(record["own_steps"])
        )
    dt = dataset.settings.dt_s
    print(f"dataset {dataset.root}: {dataclasses.asdict(dataset.settings)}")
    print(
        f"  {len(dataset.bags)} bag(s), {len(dataset.episode_keys())} episode(s), "
        f"{len(dataset.records)} record(s), {len(dataset.shards)} shard(s) "
        f"({sum(s['bytes'] for s in dataset.shards.values()) / 2**20:.1f} MiB), "
        f"{dataset.samples} samples = {dataset.samples * dt / 3600:.2f} h"
    )
    for robot, samples in sorted(robots.items()):
        print(f"  robot {robot}: {samples * dt / 3600:.2f} h")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..core.data.build import verify_dataset
    from ..core.data.manifest import ShardDataset

    shards = len(ShardDataset(args.dataset).shards)
    with tqdm(total=shards, unit="shard", disable=args.quiet, desc="verify") as bar:
        checked, problems = verify_dataset(args.dataset, bar.update)
    for problem in problems:
        print(f"dataset verify: {problem}", file=sys.stderr)
    print(f"dataset verify: {checked} shard(s) checked, {len(problems)} problem(s)")
    return 1 if problems else 0
