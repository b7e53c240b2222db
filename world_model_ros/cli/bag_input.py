"""Bags on the command line -> Episodes, shared by ``train`` and ``eval``.

Bags, storage files or folders holding bags (core/data/bag_format.find_bags), with topic names from
flags so a user's own robot recordings load unchanged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..core.data.episodes import Episode


def add_topic_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dt",
        type=float,
        default=0.1,
        help="sample period the bags are resampled to (s, default 0.1)",
    )
    parser.add_argument(
        "--image-topic",
        default="camera/image_raw",
        help="sensor_msgs/Image topic (default camera/image_raw)",
    )
    parser.add_argument(
        "--compressed-image-topic",
        help="sensor_msgs/CompressedImage topic, used instead when present",
    )
    parser.add_argument(
        "--odom-topic", default="odom", help="nav_msgs/Odometry topic (default odom)"
    )
    parser.add_argument(
        "--cmd-topic",
        default="cmd_vel",
        help="Twist or TwistStamped command topic (default cmd_vel)",
    )
    parser.add_argument(
        "--contact-topic",
        default="ground_truth/contact",
        help="std_msgs/Bool ground-truth contact topic (simulator bags; default "
        "ground_truth/contact; '' = ignore it)",
    )
    parser.add_argument(
        "--camera-info-topic",
        default="camera/camera_info",
        help="sensor_msgs/CameraInfo topic (the checkpoint records the camera; default "
        "camera/camera_info)",
    )
    parser.add_argument(
        "--scan-topic",
        default="scan",
        help="sensor_msgs/LaserScan topic, used when the bags have it: costmap labels for the "
        "occupancy head, and the encoder's scan input for a model that takes one (default "
        "scan; '' = none)",
    )
    parser.add_argument(
        "--bumper-topic",
        help="a bumper topic: contact labels where the bags have no contact topic",
    )
    parser.add_argument(
        "--bumper-field",
        default="data",
        help="field of the bumper message that is true when pressed (dotted path; default "
        "data, as in std_msgs/Bool)",
    )
    parser.add_argument(
        "--twist-from-poses",
        action="store_true",
        help="rebuild the odometry twist from the poses (a driver with a wrong twist frame)",
    )
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="leave out bags the data doctor finds unusable instead of stopping",
    )


def attach_model_scans(episodes: list[Episode], args: argparse.Namespace, config, log=print):
    """The encoder's LaserScan input for a model that takes one (``config.scan_sectors``):
    each episode's scans on ``--scan-topic`` at its steps (core/data/scan_input.py), "no scan"
    where its bag has none, and one line saying how many had them."""
    if not config.scan_sectors:
        return
    from ..core.data.scans import attach_bag_scans

    topic = getattr(args, "scan_topic", "")
    found = attach_bag_scans(
        episodes, topic, config.scan_forward_m, config.scan_sectors, config.scan_range_m
    )
    log(
        f"LaserScan input ({config.scan_sectors} sectors): {found} of {len(episodes)} "
        f"episode(s) have scans on '{topic}'"
        + ("" if found == len(episodes) else "; the others are read as 'no scan'")
    )


def load_bags(
    paths: list[Path],
    args: argparse.Namespace,
    image_size: int,
    log=print,
    image_fit: str = "crop",
) -> tuple[list[Episode], dict[str, Any]]:
    """Load every bag through the dataset loader (frames brought at load to ``image_size``
    with core/data/camera.fit_image); the data doctor checks each bag and prints one line per
    problem. Returns the episodes and a description of the data (bags, layout seeds, samples,
    the camera). Raises ValueError when nothing usable was loaded, or when a bag is unusable
    and ``--skip-bad`` was not given."""
    from ..core.data.bag_format import BagTopics, find_bags
    from ..core.data.dataset import load_episodes

    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise ValueError(f"no such bag or folder: {', '.join(missing)}")
    topics = BagTopics(
        image=args.image_topic,
        compressed_image=args.compressed_image_topic,
        odom=args.odom_topic,
        command=args.cmd_topic,
        contact=args.contact_topic or None,
        camera_info=getattr(args, "camera_info_topic", None) or None,
        bumper=getattr(args, "bumper_topic", None) or None,
        bumper_field=getattr(args, "bumper_field", "data"),
    )
    bags = find_bags(paths)
    if not bags:
        raise ValueError(
            f"no rosbag2 bags in {', '.join(map(str, paths))} (a bag is a folder with "
            "metadata.yaml, or an .mcap / .db3 file; record some with `world-model-ros record`)"
        )
    episodes, report = load_episodes(
        bags,
        topics=topics,
        dt_s=args.dt,
        image_size=image_size,
        image_fit=image_fit,
        twist_from_poses=bool(getattr(args, "twist_from_poses", False)),
    )
    log(f"data: {report.summary()}")
    for problem in report.problems:
        print(f"data: {problem}", file=sys.stderr)
    for problem in report.doctor:
        print(f"data doctor: {problem.line()}", file=sys.stderr)
    bad = report.bad_bags()
    if bad and not getattr(args, "skip_bad", False):
        raise ValueError(
            f"the data doctor found {len(bad)} of {report.bags} bag(s) unusable (see above); "
            "fix them, or pass --skip-bad to leave them out"
        )
    if bad:
        episodes = [e for e in episodes if e.source not in bad]
        log(f"data: left out {len(bad)} unusable bag(s) (--skip-bad)")
    if not episodes:
        why = (
            "see the problems above"
            if report.problems
            else f"no episode with --image-topic {args.image_topic}, --odom-topic "
            f"{args.odom_topic} and --cmd-topic {args.cmd_topic} messages"
        )
        raise ValueError(f"no usable episodes in {', '.join(map(str, paths))} ({why})")
    seeds = sorted(
        {
            e.arena.layout_seed
            for e in episodes
            if e.arena is not None and e.arena.layout_seed is not None
        }
    )
    frames = sum(len(e) for e in episodes)
    cameras = {spec for bag, spec in report.cameras.items() if bag not in bad}
    info = {
        "bags": [Path(b).name for b in bags],
        "layout_seeds": compact_seeds(seeds),
        "episodes": len(episodes),
        "samples": frames,
        "minutes": round(frames * args.dt / 60, 1),
        "dt_s": args.dt,
        "bags_without_layout_identity": sum(
            1
            for b in {e.source for e in episodes if e.arena is None or e.arena.layout_seed is None}
        ),
        "twist_from_poses": bool(getattr(args, "twist_from_poses", False)),
    }
    if cameras:
        info["cameras"] = [c.to_dict() for c in sorted(cameras, key=repr)]
    return episodes, info


def layout_seeds(episodes: list[Episode]) -> list[int]:
    return sorted(
        {
            e.arena.layout_seed
            for e in episodes
            if e.arena is not None and e.arena.layout_seed is not None
        }
    )


def compact_seeds(seeds: list[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> '0-2,5,7-8' (parse_compact_seeds reads it back)."""
    parts: list[str] = []
    run: list[int] = []
    for seed in sorted(seeds) + [None]:
        if run and seed is not None and seed == run[-1] + 1:
            run.append(seed)
            continue
        if run:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [seed] if seed is not None else []
    return ",".join(parts)


def parse_compact_seeds(text: str) -> set[int]:
    """'0-2,5' -> {0, 1, 2, 5}."""
    seeds: set[int] = set()
    for part in filter(None, (p.strip() for p in str(text or "").split(","))):
        low, _, high = part.partition("-")
        seeds.update(range(int(low), int(high or low) + 1))
    return seeds


def is_bag(path: Path) -> bool:
    """Whether ``path`` is a rosbag2 bag (a folder with metadata.yaml or storage files, or a
    storage file): ``record --output`` must not write new bags inside one."""
    path = Path(path)
    if path.suffix in {".mcap", ".db3"} and path.exists():
        return True
    return path.is_dir() and (
        (path / "metadata.yaml").is_file() or any(path.glob("*.mcap")) or any(path.glob("*.db3"))
    )
