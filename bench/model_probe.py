#!/usr/bin/env python3
"""Closed-loop sanity probe of a world model: starts from rest vs rolling, open space vs a wall.

Why: open-loop metrics on recorded windows can look fine while a model has learned a shortcut
that breaks a planner, e.g. "measured v = 0 under a forward command means blocked" (then every
start from rest is predicted as a collision and MPPI never leaves the start). This probe puts
the simulated robot (no obstacles, only the arena walls) into a few hand-made situations, asks
the model what happens under a few 2 s command sequences, and prints the prediction next to
what the simulator really does.

    .venv/bin/python bench/model_probe.py                                # shipped checkpoint
    .venv/bin/python bench/model_probe.py --checkpoint runs/ckpt_old
    world_model_ros/checkpoints/default

Columns: travel = distance from the start pose after 2 s (m); P(col) = highest predicted
collision probability over the horizon; truth = the simulator under the same commands
(contact at any 10 ms tick).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from world_model_ros.core.model.checkpoint import load_latent_model
from world_model_ros.core.model.contract import Observation
from world_model_ros.sim.simulator import DiffDriveSim, SimConfig

DT_S = 0.1
HORIZON = 20
WALL_X_M = 2.5  # the +x wall's inner face (arena half size)


@dataclass(frozen=True)
class Situation:
    """Start pose, then ``lead_in`` commands held for ``lead_in_s`` each before the observation."""

    name: str
    start_xyyaw: tuple[float, float, float]
    lead_in_v_mps: float = 0.0
    lead_in_s: float = 0.0


SITUATIONS = [
    Situation("open, at rest", (0.0, 0.0, 0.0)),
    Situation("open, rolling 0.36 m/s", (-1.2, 0.0, 0.0), 0.36, 2.0),
    Situation("wall 0.35 m ahead, at rest", (WALL_X_M - 0.17 - 0.35, 0.0, 0.0)),
    Situation(
        "wall 0.5 m ahead after rolling 0.36 m/s", (WALL_X_M - 0.17 - 1.15, 0.0, 0.0), 0.36, 2.0
    ),
    Situation("pinned against the wall", (WALL_X_M - 0.17 - 0.3, 0.0, 0.0), 0.3, 2.5),
]

COMMANDS = {
    "forward 0.5": (0.5, 0.0),
    "forward 0.25": (0.25, 0.0),
    "stand still": (0.0, 0.0),
    "turn 1 rad/s": (0.0, 1.0),
}


def prepare(sim: DiffDriveSim, situation: Situation) -> Observation:
    sim.reset(start_pose=situation.start_xyyaw)
    for _ in range(int(round(situation.lead_in_s / DT_S))):
        sim.step((situation.lead_in_v_mps, 0.0), DT_S)
    pose, twist = sim.odometry()
    return Observation(
        stamp_s=sim.time_s,
        image_rgb_hw3=sim.render(),
        pose_xyyaw=np.asarray(pose, float),
        twist_vw=np.asarray(twist, float),
    )


def truth(
    sim: DiffDriveSim, situation: Situation, command: tuple[float, float]
) -> tuple[float, bool]:
    observation = prepare(sim, situation)
    contact = False
    for _ in range(HORIZON):
        sim.step(command, DT_S)
        contact |= bool(sim.contact_during_last_step)
    return float(np.hypot(*(np.asarray(sim.pose())[:2] - observation.pose_xyyaw[:2]))), contact


def probe(checkpoint: str, sim: DiffDriveSim) -> list[dict]:
    model = load_latent_model(checkpoint, torch.device("cpu"), horizon=HORIZON)
    rows = []
    for situation in SITUATIONS:
        observation = prepare(sim, situation)
        latent = model.encode(observation)
        actions = torch.tensor(
            [[command] * HORIZON for command in COMMANDS.values()], dtype=torch.float32
        )
        with torch.no_grad():
            rollout = model.rollout(latent, actions).to_numpy()
        for index, (name, command) in enumerate(COMMANDS.items()):
            travel = float(
                np.hypot(*(rollout["poses_bh3"][index, -1, :2] - observation.pose_xyyaw[:2]))
            )
            true_travel, true_contact = truth(sim, situation, command)
            rows.append(
                {
                    "situation": situation.name,
                    "measured_v_mps": float(observation.twist_vw[0]),
                    "command": name,
                    "travel_m": travel,
                    "true_travel_m": true_travel,
                    "p_collision": float(rollout["collision_prob_bh"][index].max()),
                    "true_contact": true_contact,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--checkpoint", nargs="+", default=[""], help="checkpoint folders ('' = shipped)"
    )
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sim = DiffDriveSim(
        SimConfig(camera_width=64, camera_height=64, obstacles_min=0, obstacles_max=0),
        layout_seed=0,
    )
    results = {}
    for checkpoint in args.checkpoint:
        rows = probe(checkpoint, sim)
        results[checkpoint or "shipped"] = rows
        print(f"\n### {checkpoint or 'shipped checkpoint'}\n")
        print(
            "| situation | measured v | command | travel (m) | true travel (m) | P(col) | true "
            "contact |"
        )
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['situation']} | {r['measured_v_mps']:.2f} | {r['command']} | "
                f"{r['travel_m']:.2f} | "
                f"{r['true_travel_m']:.2f} | {r['p_collision']:.2f} | "
                f"{'yes' if r['true_contact'] else 'no'} |"
            )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
