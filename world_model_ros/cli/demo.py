"""``world-model-ros demo``: the package's main job in one command.

Drives the embedded simulator to goals in unseen arena layouts with MPPI on the world model and,
beside it, the same MPPI on the kinematic model (which cannot see obstacles), then prints the
summary table and writes, under ``--out``: ``paths.png`` (driven paths over each arena),
``summary.json`` / ``summary.md`` and ``demo_bag/`` (rosbag2 MCAP: camera, odometry, tf,
cmd_vel, plans, rollout markers, status, arena) for Foxglove or ``ros2 bag play`` + rviz2.

Runs in lockstep in one process without DDS (deterministic, fast): the simulator is stepped one
control period per planning cycle. ``launch/demo.launch.py`` runs the same pieces as separate
ROS 2 nodes.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from .demo_report import write_summary
from .demo_setup import choose_models, load_planner_config, warn_if_other_robot

HELP = "drive the simulator to goals with the MPPI planner on the world model (the main job)"
log = logging.getLogger("world_model_ros.demo")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--episodes", type=int, default=20, help="episodes (layouts) per planner (default 20)"
    )
    parser.add_argument(
        "--layout-seed-start",
        type=int,
        default=None,
        help="first layout seed (default 10000: disjoint from training 0:20 and held-out "
        "1000:1005)",
    )
    parser.add_argument(
        "--model",
        choices=("auto", "latent", "kinematic"),
        default="auto",
        help="main model: auto = the shipped latent checkpoint when present, else kinematic",
    )
    parser.add_argument(
        "--oracle",
        action="store_true",
        help="also run MPPI on a map-aware reference (kinematic motion + TRUE collisions): "
        "what the planner achieves when collision predictions are right",
    )
    parser.add_argument(
        "--checkpoint", default="", help="latent checkpoint folder ('' = the shipped one)"
    )
    parser.add_argument(
        "--robot",
        default="default",
        help="simulated robot: a name under config/robots/ or a YAML path (default: default); "
        "give it the checkpoint adapted to it (world-model-ros adapt)",
    )
    parser.add_argument(
        "--no-compare", action="store_true", help="skip the kinematic-model MPPI run beside it"
    )
    parser.add_argument(
        "--device", default="auto", help="torch device: auto | cpu | cuda | cuda:N"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="planner parameter YAML (ROS 2 ros__parameters form; default "
        "config/mpc_planner.yaml)",
    )
    parser.add_argument("--samples", type=int, default=None, help="override MPPI num_samples")
    parser.add_argument(
        "--max-episode-s", type=float, default=40.0, help="give up an episode after this (sim s)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: fastest on a small shared CPU; 0 = torch's "
        "default)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="sampler seed (runs are deterministic per seed)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default runs/demo/<UTC time>)"
    )
    parser.add_argument("--no-bag", action="store_true", help="do not write the MCAP recording")
    parser.add_argument(
        "--ros",
        action="store_true",
        help="run sim_node, world_model_node and mpc_planner_node as processes over DDS, in real "
        "time (fresh processes per episode; no bag; use few --episodes)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if not log.handlers:  # this verb's own lines only (not every library's INFO)
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[demo] %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    if args.episodes < 1:
        raise SystemExit("demo: --episodes must be >= 1")
    import torch
    from tqdm import tqdm

    from ..core.data.camera import encoder_half_fov_rad
    from ..core.planning.goal_controller import GoalController
    from ..core.planning.robot_fit import RobotLimits, fit_controller
    from ..sim.demo_runner import DEMO_LAYOUT_SEED_START, DemoConfig, episode_setup, run_episode
    from ..sim.robots import RobotFileError, load_robot
    from ..sim.simulator import DiffDriveSim

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        robot = load_robot(args.robot)
        sim_config = robot.sim_config()
    except (RobotFileError, ValueError) as error:
        raise SystemExit(f"demo: {error}") from None
    if args.ros and robot.name != "default":
        raise SystemExit("demo: --robot runs lockstep only (sim_node takes robot:=<name> itself)")
    controller_config, config_source = load_planner_config(args.config, args.seed, args.samples)
    models = choose_models(args)
    # the simulated robot's body, limits and camera (as the learned model sees it), not the
    # default robot's (core/planning/robot_fit.py)
    image_fit = getattr(getattr(models[0][1], "config", None), "image_fit", None)
    controller_config, fitted = fit_controller(
        controller_config,
        robot.footprint_spec().circumscribed_radius_m,
        RobotLimits(**asdict(robot.limits)),
        None if image_fit is None else encoder_half_fov_rad(robot.camera_spec(), image_fit),
    )
    if fitted:
        log.info("planner fitted to robot '%s': %s", robot.name, ", ".join(fitted))
    mppi_config = controller_config.mppi
    dt_s = models[0][1].dt_s
    demo = DemoConfig(
        control_period_s=dt_s, max_episode_s=args.max_episode_s, controller=controller_config
    )
    out = args.out or Path("runs") / "demo" / datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    first = DEMO_LAYOUT_SEED_START if args.layout_seed_start is None else args.layout_seed_start
    seeds = list(range(first, first + args.episodes))
    log.info(
        "planner: %d samples x %d steps of %.2f s, %d iteration(s) (config: %s); layouts %d..%d; "
        "output %s",
        mppi_config.num_samples,
        mppi_config.horizon,
        dt_s,
        mppi_config.iterations,
        config_source or "defaults",
        seeds[0],
        seeds[-1],
        out,
    )

    warn_if_other_robot(models[0][1], robot)
    sim = DiffDriveSim(sim_config, layout_seed=seeds[0])
    setups, arenas = {}, {}
    for seed in seeds:
        setups[seed] = episode_setup(sim, seed, demo.goal_min_distance_m)
        arenas[seed] = sim.arena_map()

    if args.ros:
        if args.oracle:
            raise SystemExit(
                "demo: --oracle is lockstep only (the nodes cannot load the reference model)"
            )
        from .demo_ros import run_ros_episodes

        results = {}
        started = time.perf_counter()
        for name, _ in models:
            checkpoint = args.checkpoint if name != "kinematic" else ""
            results[name] = run_ros_episodes(
                name,
                name,
                checkpoint,
                [setups[s] for s in seeds],
                demo,
                out,
                args.seed,
                lambda it, n=name: tqdm(
                    it, desc=f"MPPI on {n} (DDS)", unit="episode", disable=args.no_progress
                ),
            )
        return write_summary(
            args,
            out,
            seeds,
            arenas,
            models,
            results,
            demo,
            time.perf_counter() - started,
            bag_written=False,
        )

    bag = None
    if not args.no_bag:
        from ..sim.demo_bag import DemoBag

        bag = DemoBag(out / "demo_bag", marker_samples=8).__enter__()
    results: dict[str, list] = {}
    maps: dict[
        int, tuple
    ] = {}  # layout -> the learned planner's occupancy map at the episode's end
    started = time.perf_counter()
    try:
        for name, model in models:
            controller = GoalController(model, controller_config)
            results[name] = []
            bar = tqdm(seeds, desc=f"MPPI on {name}", unit="episode", disable=args.no_progress)
            for index, seed in enumerate(bar):
                setup = setups[seed]
                hook = None
                if bag is not None:
                    bag.arena(round(sim.time_s * 1e9), arenas[seed])
                    bag.status(
                        round(sim.time_s * 1e9), f"{name} episode {index}: active (layout {seed})"
                    )

                    hook = _bag_hook(bag, model, controller, setup.goal_xyyaw)
                result = run_episode(sim, model, controller, setup, name, demo, on_step=hook)
                results[name].append(result)
                occupancy = controller.planner.occupancy_map
                if not occupancy.empty and seed not in maps:
                    maps[seed] = (
                        occupancy.occupancy_percent_yx(),
                        occupancy.origin_2.cpu().numpy(),
                        mppi_config.occupancy.resolution_m,
                    )
                if bag is not None:
                    bag.status(round(sim.time_s * 1e9), f"{name} episode {index}: {result.status}")
                done = results[name]
                bar.set_postfix(
                    reached=f"{sum(r.reached for r in done)}/{len(done)}",
                    collided=sum(r.collided for r in done),
                )
                if not result.reached:
                    log.info(
                        "%s, layout %d: %s (%.2f m from the goal after %.1f s%s)",
                        name,
                        seed,
                        result.status,
                        result.final_distance_m,
                        result.time_s,
                        ", touched an obstacle" if result.collided else "",
                    )
    finally:
        if bag is not None:
            bag.__exit__(None, None, None)
    return write_summary(
        args,
        out,
        seeds,
        arenas,
        models,
        results,
        demo,
        time.perf_counter() - started,
        bag_written=bag is not None,
        maps=maps,
    )


def _bag_hook(bag, model, controller, goal):
    """What the demo's bag records every cycle: the frame, odometry, the plan and its samples,
    the command; the planner's occupancy map once a second."""
    cycles = [0]

    def hook(time_s, sim, image, output, command) -> None:
        pose, twist = sim.odometry()
        stamp_ns = round(time_s * 1e9)
        result, model_id, dt_s = output.result, model.model_id, model.dt_s
        bag.cycle(stamp_ns, image, pose, twist, result, command, model_id, dt_s, goal)
        if cycles[0] % round(1.0 / model.dt_s) == 0:
            bag.occupancy(stamp_ns, controller.planner.occupancy_map)
        cycles[0] += 1

    return hook
