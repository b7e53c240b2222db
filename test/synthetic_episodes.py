"""Small synthetic Episodes for the latent model's tests (no simulator, no bags).

A unicycle robot with a first-order velocity lag drives random piecewise-constant commands in
a square arena with a few obstacles; a step that would make its footprint overlap something is
refused (the robot stops: contact). The "camera" is a robot-centric top-down crop of the map,
which carries the same information a forward camera does: what is ahead and how far.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from world_model_ros.core.data.episodes import ArenaMap, Episode, Obstacle
from world_model_ros.core.evaluation.metrics import footprint_clearance
from world_model_ros.core.geometry import integrate_unicycle

PIXELS_PER_M = 40


def make_arena(seed: int, half_size_m: float = 1.5) -> ArenaMap:
    rng = np.random.default_rng(seed)
    obstacles = []
    for _ in range(3):
        x, y = rng.uniform(-0.9, 0.9, 2)
        if rng.random() < 0.5:
            obstacles.append(
                Obstacle("box", float(x), float(y), float(rng.uniform(-1, 1)), 0.2, 0.12)
            )
        else:
            obstacles.append(Obstacle("cylinder", float(x), float(y), 0.0, 0.15, 0.15))
    return ArenaMap(
        half_size_m=half_size_m, obstacles=obstacles, robot_radius_m=0.12, layout_seed=seed
    )


def _map_image(arena: ArenaMap) -> tuple[np.ndarray, float]:
    """Top-down RGB map with a margin; returns (image, metres at pixel 0)."""
    margin = 1.5
    extent = arena.half_size_m + margin
    size = int(2 * extent * PIXELS_PER_M)
    image = np.full((size, size, 3), 40, np.uint8)  # outside: dark

    def to_px(x: float, y: float) -> tuple[int, int]:
        return int((x + extent) * PIXELS_PER_M), int((y + extent) * PIXELS_PER_M)

    cv2.rectangle(
        image,
        to_px(-arena.half_size_m, -arena.half_size_m),
        to_px(arena.half_size_m, arena.half_size_m),
        (200, 200, 200),
        -1,
    )  # floor
    for o in arena.obstacles:
        if o.kind == "cylinder":
            cv2.circle(image, to_px(o.x, o.y), int(o.hx * PIXELS_PER_M), (200, 40, 40), -1)
        else:
            corners = cv2.boxPoints(
                (
                    (float((o.x + extent) * PIXELS_PER_M), float((o.y + extent) * PIXELS_PER_M)),
                    (2 * o.hx * PIXELS_PER_M, 2 * o.hy * PIXELS_PER_M),
                    float(np.degrees(o.yaw)),
                )
            )
            cv2.fillPoly(image, [corners.astype(np.int32)], (40, 40, 200))
    return image, -extent


def _egocentric_crop(
    map_image: np.ndarray, origin_m: float, pose: np.ndarray, size: int = 32
) -> np.ndarray:
    """size x size crop 2 m wide, robot at the bottom centre looking up the image."""
    x, y, yaw = pose
    cx, cy = (x - origin_m) * PIXELS_PER_M, (y - origin_m) * PIXELS_PER_M
    scale = size / (2.0 * PIXELS_PER_M)
    # Map pixel p -> crop pixel: rotate so the heading points to -v (up), then scale and shift.
    angle = -np.pi / 2 - yaw
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    matrix = np.array([[c, -s, 0.0], [s, c, 0.0]])
    matrix[:, 2] = np.array([size / 2, size * 0.9]) - matrix[:, :2] @ np.array([cx, cy])
    return cv2.warpAffine(
        map_image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=(40, 40, 40)
    )


def make_episode(
    seed: int,
    steps: int = 120,
    dt_s: float = 0.1,
    layout_seed: int | None = None,
    image_size: int = 32,
) -> Episode:
    rng = np.random.default_rng(seed)
    arena = make_arena(seed if layout_seed is None else layout_seed)
    map_image, origin = _map_image(arena)
    pose = np.array([0.0, 0.0, rng.uniform(-np.pi, np.pi)])
    while footprint_clearance(pose[None, :2], arena)[0] < 0.05:
        pose[:2] = rng.uniform(-1.2, 1.2, 2)
    twist = np.zeros(2)
    poses, twists, commands, contacts, images = [], [], [], [], []
    command = np.zeros(2)
    for t in range(steps):
        if t % 10 == 0:
            command = np.array([rng.uniform(-0.1, 0.6), rng.uniform(-1.2, 1.2)])
        touching = footprint_clearance(pose[None, :2], arena)[0] < 0.005
        poses.append(pose.copy())
        twists.append(twist.copy())
        commands.append(command.copy())
        contacts.append(touching)
        images.append(_egocentric_crop(map_image, origin, pose, image_size))
        twist = twist + 0.5 * (command - twist)  # first-order lag
        proposal = integrate_unicycle(torch.tensor(pose), torch.tensor(twist)[None, None], dt_s)[
            0, 0
        ].numpy()
        if footprint_clearance(proposal[None, :2], arena)[0] < 0.0:
            proposal = np.array([pose[0], pose[1], proposal[2]])  # blocked: turns in place only
            twist = np.array([0.0, twist[1]])
        pose = proposal
    return Episode(
        dt_s=dt_s,
        stamps_s=dt_s * np.arange(steps),
        images_thw3=np.stack(images),
        poses_t3=np.array(poses),
        twists_t2=np.array(twists, np.float32),
        commands_t2=np.array(commands, np.float32),
        contacts_t=np.array(contacts),
        arena=arena,
        source=f"synthetic-{seed}",
        metadata={"seed": seed},
    )
