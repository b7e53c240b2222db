"""``world-model-ros record``: drive the embedded simulator and write rosbag2 (MCAP) training data.

One bag per layout seed (``<output>/layout_<seed>``), each holding ``--episodes`` episodes of
``--episode-seconds`` at ``--rate-hz``; the layout seeds, arena map and episode list are in
the bag's metadata (world_model_ros/sim/recorder.py). Train and test sets should use disjoint
layout seeds, e.g. ``--layouts 0:20`` for training and ``--layouts 1000:1005`` for testing.

``--robot NAME`` records another robot (config/robots/NAME.yaml or a path: footprint, wheels,
limits, camera, LiDAR; sim/robots.py). ``--no-ground-truth`` writes bags the way a real robot
does: no contact topic, no arena map or layout seed in the metadata (``--storage sqlite3`` for
the other rosbag2 storage); a robot whose base takes TwistStamped gets TwistStamped commands.

``--policy planner`` drives with the demo's MPPI planner on a world model to random goals
instead of the blind exploration policy (sim/planner_policy.py): on-policy data to train on
beside the exploration data.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

HELP = "record rosbag2 (MCAP) training data by driving the embedded simulator"


def parse_seeds(specs: list[str]) -> list[int]:
    """``["0:3", "7"]`` -> [0, 1, 2, 7] (``a:b`` is a half-open range); raises
    ArgumentTypeError."""
    seeds: list[int] = []
    for spec in specs:
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                if ":" in part:
                    start, stop = (int(v) for v in part.split(":", 1))
                    if stop <= start:
                        raise ValueError("empty range")
                    seeds.extend(range(start, stop))
                else:
                    seeds.append(int(part))
            except ValueError as error:
                raise argparse.ArgumentTypeError(
                    f"bad layout seed spec '{part}' ({error}); use e.g. 0:20 or 3,5,8"
                ) from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"layout seeds repeat: {seeds}")
    return seeds


def parse_size(text: str) -> tuple[int, int]:
    """``64`` -> (64, 64); ``320x240`` -> (320, 240) as (width, height)."""
    try:
        parts = [int(v) for v in text.lower().split("x")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bad image size '{text}'; use e.g. 64 or 320x240"
        ) from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or not all(8 <= p <= 4096 for p in parts):
        raise argparse.ArgumentTypeError(f"bad image size '{text}'; each side must be 8..4096")
    return parts[0], parts[1]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        "-o",
        type=Path,
        default=Path("data/sim"),
        help="folder for the bags (default data/sim)",
    )
    parser.add_argument(
        "--layouts",
        nargs="+",
        default=["0"],
        metavar="SEEDS",
        help="layout seeds, one bag each: list and/or half-open ranges, e.g. 0:20 or 3 5 8 "
        "(default 0)",
    )
    parser.add_argument("--episodes", type=int, default=2, help="episodes per layout (default 2)")
    parser.add_argument(
        "--episode-seconds",
        type=float,
        default=60.0,
        help="simulated seconds per episode (default 60)",
    )
    parser.add_argument(
        "--rate-hz", type=float, default=10.0, help="camera/odometry/command rate (default 10)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of start poses and exploration noise (default 0)"
    )
    parser.add_argument(
        "--robot",
        default="default",
        help="robot description: a name under config/robots/ or a YAML path (default: default)",
    )
    parser.add_argument(
        "--image-size",
        type=parse_size,
        default=None,
        metavar="WxH",
        help="camera resolution, e.g. 64 or 320x240 (default: the robot file's; 64 for the "
        "default robot: the model's input size)",
    )
    parser.add_argument(
        "--fovy-deg",
        type=float,
        default=None,
        help="vertical field of view (default: the robot file's; 70 for the default robot)",
    )
    parser.add_argument(
        "--no-ground-truth",
        action="store_true",
        help="write bags as a real robot would: no contact topic, no arena map or layout seed",
    )
    parser.add_argument(
        "--storage",
        choices=("mcap", "sqlite3"),
        default="mcap",
        help="rosbag2 storage plugin (default mcap)",
    )
    parser.add_argument(
        "--odom-noise",
        type=float,
        default=0.0,
        help="relative std of odometry increments; > 0 also writes /ground_truth/odom (default 0)",
    )
    parser.add_argument(
        "--preview",
        action="store_true",
        help="write preview_layout_<seed>.png (frames + map) per bag",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace bags that already exist")
    parser.add_argument(
        "--policy",
        choices=("explore", "planner"),
        default="explore",
        help="explore: blind random driving (default); planner: the demo's MPPI on --checkpoint, "
        "to random goals",
    )
    parser.add_argument(
        "--checkpoint",
        default="",
        help="--policy planner: latent checkpoint folder ('' = the shipped one)",
    )
    parser.add_argument(
        "--planner-samples",
        type=int,
        default=256,
        help="--policy planner: MPPI samples per cycle (default 256; the demo uses 512)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes recording layouts in parallel (default 1; the bags are the same)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def planner_policy_factory(args: argparse.Namespace, sim):
    """rng -> PlannerPolicy on the checkpoint and the planner settings of
    config/mpc_planner.yaml."""
    import torch

    from ..core.model.registry import ModelSpec, load_world_model
    from ..sim.planner_policy import PlannerPolicy
    from .demo_setup import load_planner_config

    if args.rate_hz != 10.0:
        raise SystemExit(
            "record: --policy planner needs --rate-hz 10 (one planning cycle per model step of "
            "0.1 s)"
        )
    torch.set_num_threads(1)
    try:
        model = load_world_model(
            ModelSpec(kind="latent", checkpoint=args.checkpoint, device="cpu")
        )
    except (
        OSError,
        ValueError,
    ) as error:  # CheckpointError is a ValueError naming the file and the problem
        raise SystemExit(f"record: --checkpoint: {error}") from None
    controller, _ = load_planner_config(None, args.seed, args.planner_samples)
    return lambda rng: PlannerPolicy(sim, model, controller, rng)


_WORKER: dict = {}  # this process's simulator and policy factory (one per worker process)


def _start_worker(config, args: argparse.Namespace, first_layout: int, options) -> None:
    from ..sim.simulator import DiffDriveSim

    sim = DiffDriveSim(config, first_layout)
    _WORKER.update(
        sim=sim,
        args=args,
        options=options,
        make_policy=planner_policy_factory(args, sim) if args.policy == "planner" else None,
    )


def _picklable(args: argparse.Namespace) -> argparse.Namespace:
    """The arguments without what main() attached (the verb's module)."""
    return argparse.Namespace(**{k: v for k, v in vars(args).items() if not k.startswith("_")})


def _record_bag(seed: int, bag: Path, progress=None) -> tuple[float, str]:
    """Record one layout's bag in this process; returns its contact fraction and a note."""
    import numpy as np

    from ..sim.preview import write_preview
    from ..sim.recorder import record_layout

    sim, args, make_policy = _WORKER["sim"], _WORKER["args"], _WORKER["make_policy"]
    rng = np.random.default_rng([args.seed, seed])  # per bag: independent of the order of layouts
    policy = make_policy(rng) if make_policy is not None else None
    summary = record_layout(
        sim,
        bag,
        seed,
        args.episodes,
        args.episode_seconds,
        args.rate_hz,
        rng,
        keep_for_preview=max(1, 24 // args.episodes) if args.preview else 0,
        progress=progress,
        policy=policy,
        policy_name=args.policy,
        options=_WORKER["options"],
    )
    note = ""
    if args.preview:
        png = write_preview(
            args.output / f"preview_layout_{seed:04d}.png",
            [f for e in summary.episodes for f in e.frames],
            [e.poses_t3 for e in summary.episodes],
            [e.contacts_t for e in summary.episodes],
            sim.arena_map(),
            sim.layout.colours_rgb,
            title=f"layout {seed}: {args.episodes} episode(s) x {args.episode_seconds:g} s, "
            f"contact {100 * summary.contact_fraction:.1f}% of samples",
        )
        note = f"preview: {png}"
    return summary.contact_fraction, note


def run(args: argparse.Namespace) -> int:
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    import numpy as np
    from tqdm import tqdm

    from ..sim.recorder import RecordOptions
    from ..sim.robots import RobotFileError, load_robot
    from .bag_input import is_bag

    try:
        layouts = parse_seeds(args.layouts)
    except argparse.ArgumentTypeError as error:
        print(f"record: {error}", file=sys.stderr)
        return 2
    if args.episodes < 1 or args.episode_seconds <= 0 or not 0 < args.rate_hz <= 1000:
        print(
            f"record: need --episodes >= 1, --episode-seconds > 0, 0 < --rate-hz <= 1000 "
            f"(got {args.episodes}, {args.episode_seconds}, {args.rate_hz})",
            file=sys.stderr,
        )
        return 2
    bags = {seed: args.output / f"layout_{seed:04d}" for seed in layouts}
    existing = [str(p) for p in bags.values() if p.exists()]
    if existing and not args.overwrite:
        print(
            f"record: bags exist already (use --overwrite): {', '.join(existing)}", file=sys.stderr
        )
        return 2
    if is_bag(args.output):  # a bag's folder: new bags would silently nest inside it
        if not args.overwrite:
            print(
                f"record: --output {args.output} is a rosbag2 bag; give a folder for the new "
                "bags (one per layout), or --overwrite to replace that bag",
                file=sys.stderr,
            )
            return 2
        if args.output.is_dir():
            shutil.rmtree(args.output)
        else:
            args.output.unlink()
    for path in existing:
        shutil.rmtree(path)
    args.output.mkdir(parents=True, exist_ok=True)
    try:
        robot = load_robot(args.robot)
        overrides = {
            "odom_noise_linear_frac": args.odom_noise,
            "odom_noise_angular_frac": args.odom_noise,
        }
        if args.image_size is not None:
            overrides["camera_width"], overrides["camera_height"] = args.image_size
        if args.fovy_deg is not None:
            overrides["camera_fovy_deg"] = args.fovy_deg
        config = robot.sim_config(**overrides)
    except (RobotFileError, ValueError) as error:
        print(f"record: {error}", file=sys.stderr)
        return 2
    options = RecordOptions(
        encoding=robot.camera.encoding,
        cmd_stamped=robot.cmd_vel_stamped,
        ground_truth=not args.no_ground_truth,
        storage=args.storage,
        robot=robot.to_dict(),
    )
    steps_per_bag = args.episodes * max(1, int(round(args.episode_seconds * args.rate_hz)))
    if args.workers < 1:
        print(f"record: --workers must be >= 1 (got {args.workers})", file=sys.stderr)
        return 2
    workers = min(args.workers, len(layouts))
    if workers > 1 and args.policy == "planner":
        planner_policy_factory(args, None)  # its errors here, not inside a worker
    started = time.perf_counter()
    contact_fractions = []
    with tqdm(
        total=steps_per_bag * len(layouts), unit="sample", disable=args.quiet, desc="record"
    ) as bar:
        if workers == 1:
            _start_worker(config, args, layouts[0], options)
            for seed, bag in bags.items():
                fraction, note = _record_bag(seed, bag, bar.update)
                contact_fractions.append(fraction)
                if note:
                    bar.write(note)
            _WORKER["sim"].close()
        else:  # one simulator per process; each bag is seeded by its layout, so order is moot
            with ProcessPoolExecutor(
                workers,
                mp_context=get_context("spawn"),
                initializer=_start_worker,
                initargs=(config, _picklable(args), layouts[0], options),
            ) as pool:
                futures = [pool.submit(_record_bag, seed, bag) for seed, bag in bags.items()]
                for future in as_completed(futures):
                    fraction, note = future.result()
                    contact_fractions.append(fraction)
                    bar.update(steps_per_bag)
                    if note:
                        bar.write(note)
    wall_s = time.perf_counter() - started
    sim_s = len(layouts) * args.episodes * args.episode_seconds
    truth = "with" if options.ground_truth else "WITHOUT"
    print(
        f"recorded {len(layouts)} bag(s) of robot '{robot.name}' {truth} ground truth "
        f"({options.storage}) in {args.output}: {steps_per_bag * len(layouts)} "
        "samples, "
        f"{sim_s / 60:.1f} simulated min in {wall_s:.1f} s wall ({sim_s / max(wall_s, 1e-9):.1f}x "
        "real time), "
        f"contact in {100 * float(np.mean(contact_fractions)):.1f}% of samples"
    )
    return 0
