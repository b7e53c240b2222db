"""Episodes -> fixed-length training/evaluation windows for the multi-step (open-loop) losses.

A window starts at step t0 of one episode and covers the H commands from t0 and the states
after each of them (t0 + 1 .. t0 + H); it never crosses an episode boundary. All episodes are
concatenated into flat arrays once, and a batch of windows is a handful of index gathers, so
sampling costs nothing next to the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..geometry import body_deltas_from_poses, wrap_angle
from ..model.latent_model import prepare_image
from .episodes import ArenaMap, Episode
from .scan_input import no_scan

if TYPE_CHECKING:  # the training layer's type; data does not import training at run time
    from ..training.costmap_loss import CostmapFields


@dataclass
class WindowBatch:
    """B windows of H steps. Targets are relative to the window's start pose unless named odom."""

    images_bss3: torch.Tensor  # uint8, frame at t0 (resized)
    twist_b2: torch.Tensor  # measured (v, w) at t0
    start_pose_b3: torch.Tensor  # odom frame pose at t0
    actions_bh2: torch.Tensor  # commands in force during steps t0 .. t0+H-1
    deltas_bh3: torch.Tensor  # body-frame motion during each step
    rel_poses_bh3: torch.Tensor  # poses t0+1 .. t0+H in the frame of the pose at t0
    poses_bh3: torch.Tensor  # the same poses in the odometry frame
    twists_bh2: torch.Tensor  # measured (v, w) at t0+1 .. t0+H
    contacts_bh: torch.Tensor  # float 0/1 contact at t0+1 .. t0+H (0 where unknown)
    contact_known_b: torch.Tensor  # bool: the episode has contact ground truth
    future_images_bkss3: torch.Tensor | None  # frames at t0 + k for the requested k (consistency)
    future_twists_bk2: torch.Tensor | None
    episode_b: torch.Tensor  # index of the episode each window came from
    start_b: torch.Tensor  # t0 within that episode
    arena: "ArenaTensors | None" = None  # ground-truth maps of the windows' episodes (when known)
    # derived costmaps of the window set's episodes (core/training/costmap_loss.CostmapFields;
    # indexed by episode_b), for the footprint loss where no map is known
    costmap: CostmapFields | None = None
    # the K steps before t0, most recent first: (commanded v, w, measured v, w) (history_at);
    # None when the window set keeps no history
    history_bk4: torch.Tensor | None = None
    future_history_bkk4: torch.Tensor | None = None  # the same before each consistency frame
    # the LaserScan input at t0 (core/data/scan_input.py), None when the set keeps none
    scan_bn: torch.Tensor | None = None
    future_scan_bkn: torch.Tensor | None = None  # the same at each consistency frame


@dataclass
class ArenaTensors:
    """Arena maps as padded tensors, one row per window, for the training-time footprint loss.

    obstacles_bk6: (is_box, x, y, yaw, hx, hy) per obstacle slot; mask_bk: slot in use;
    half_size_b / robot_radius_b: walls and footprint; known_b: the episode has a map.
    """

    obstacles_bk6: torch.Tensor
    mask_bk: torch.Tensor
    half_size_b: torch.Tensor
    robot_radius_b: torch.Tensor
    known_b: torch.Tensor

    def clearance(self, xy_bh2: torch.Tensor) -> torch.Tensor:
        """Signed clearance [B, H] (m) of the footprint at each position; < 0 overlaps (as
        metrics.footprint_clearance)."""
        nearest = self.half_size_b[:, None] - xy_bh2.abs().amax(dim=-1)
        if self.obstacles_bk6.shape[1]:
            o = self.obstacles_bk6[:, None]  # [B, 1, K, 6]
            d = xy_bh2[:, :, None, :] - o[..., 1:3]  # [B, H, K, 2]
            cos, sin = torch.cos(o[..., 3]), torch.sin(o[..., 3])
            local = torch.stack(
                [cos * d[..., 0] + sin * d[..., 1], -sin * d[..., 0] + cos * d[..., 1]], dim=-1
            )
            q = local.abs() - o[..., 4:6]
            box = q.clamp_min(0).pow(2).sum(-1).add(1e-12).sqrt() + q.amax(dim=-1).clamp_max(0)
            cylinder = d.pow(2).sum(-1).add(1e-12).sqrt() - o[..., 4]
            distance = torch.where(o[..., 0] > 0.5, box, cylinder)
            distance = distance.masked_fill(~self.mask_bk[:, None, :], float("inf"))
            nearest = torch.minimum(nearest, distance.amin(dim=-1))
        return nearest - self.robot_radius_b[:, None]


def relative_poses(start_b3: torch.Tensor, poses_bh3: torch.Tensor) -> torch.Tensor:
    """Poses [B, H, 3] expressed in the frame of the start pose [B, 3]."""
    d = poses_bh3[..., :2] - start_b3[:, None, :2]
    cos, sin = torch.cos(start_b3[:, 2:3]), torch.sin(start_b3[:, 2:3])
    x = cos * d[..., 0] + sin * d[..., 1]
    y = -sin * d[..., 0] + cos * d[..., 1]
    return torch.stack([x, y, wrap_angle(poses_bh3[..., 2] - start_b3[:, None, 2])], dim=-1)


class WindowSet:
    """Flat arrays over all episodes plus the start index of every valid window."""

    def __init__(
        self,
        episodes: Sequence[Episode],
        image_size: int,
        horizon: int,
        stride: int = 1,
        image_fit: str = "crop",
        history_steps: int = 0,
        scan_sectors: int = 0,
    ):
        if horizon < 1 or stride < 1:
            raise ValueError(f"horizon and stride must be >= 1; got {horizon}, {stride}")
        self.horizon = horizon
        self.image_size = image_size
        self.history_steps = history_steps  # what each batch carries as history_bk4
        self.scan_sectors = scan_sectors  # what each batch carries as scan_bn (0: nothing)
        self.costmap: CostmapFields | None = None  # set by the caller (cli/adapt.py)
        self.episodes_meta: list[dict] = []
        self.arenas: list[ArenaMap | None] = []
        images, poses, twists, commands, deltas, contacts, known, starts, episode_of = (
            [],
            [],
            [],
            [],
            [],
            [],
            [],
            [],
            [],
        )
        scans: list[np.ndarray] = []
        offset = 0
        for index, episode in enumerate(episodes):
            length = len(episode)
            self.arenas.append(episode.arena)
            self.episodes_meta.append(
                {
                    "source": episode.source,
                    "length": length,
                    "layout_seed": episode.arena.layout_seed if episode.arena else None,
                }
            )
            images.append(
                np.stack(
                    [prepare_image(frame, image_size, image_fit) for frame in episode.images_thw3]
                )
                if length
                else np.zeros((0, image_size, image_size, 3), np.uint8)
            )
            poses.append(np.asarray(episode.poses_t3, dtype=np.float64))
            twists.append(np.asarray(episode.twists_t2, dtype=np.float32))
            commands.append(np.asarray(episode.commands_t2, dtype=np.float32))
            step = np.zeros((length, 3), np.float64)
            if length > 1:
                step[:-1] = body_deltas_from_poses(episode.poses_t3)
            deltas.append(step)
            has_contacts = episode.contacts_t is not None
            contacts.append(
                np.asarray(episode.contacts_t, dtype=np.float32)
                if has_contacts
                else np.zeros(length, np.float32)
            )
            known.append(np.full(length, has_contacts))
            if scan_sectors:
                scans.append(_scan_rows(episode, scan_sectors))
            if length > horizon:
                local = np.arange(0, length - horizon, stride)
                starts.append(offset + local)
                episode_of.append(np.full(len(local), index))
            offset += length
        self.offsets = np.cumsum([0] + [len(e) for e in episodes])
        slots = max([len(a.obstacles) for a in self.arenas if a is not None] + [0])
        self.arena_obstacles = torch.zeros(len(episodes), slots, 6)
        self.arena_mask = torch.zeros(len(episodes), slots, dtype=torch.bool)
        self.arena_half = torch.zeros(len(episodes))
        self.arena_radius = torch.zeros(len(episodes))
        self.arena_known = torch.zeros(len(episodes), dtype=torch.bool)
        for index, arena in enumerate(self.arenas):
            if arena is None:
                continue
            self.arena_known[index] = True
            self.arena_half[index], self.arena_radius[index] = (
                arena.half_size_m,
                arena.robot_radius_m,
            )
            for slot, o in enumerate(arena.obstacles):
                self.arena_obstacles[index, slot] = torch.tensor(
                    [float(o.kind == "box"), o.x, o.y, o.yaw, o.hx, o.hy]
                )
                self.arena_mask[index, slot] = True

        def cat(parts: list, dtype) -> torch.Tensor:
            if not parts:
                return torch.zeros(0)
            return torch.from_numpy(np.concatenate(parts).astype(dtype))

        self.images = (
            torch.from_numpy(np.concatenate(images))
            if images
            else torch.zeros(0, image_size, image_size, 3, dtype=torch.uint8)
        )
        self.poses = cat(poses, np.float32)
        self.twists = cat(twists, np.float32)
        self.commands = cat(commands, np.float32)
        self.deltas = cat(deltas, np.float32)
        self.contacts = cat(contacts, np.float32)
        self.scans = cat(scans, np.float32) if scan_sectors else None
        self.contact_known = (
            torch.from_numpy(np.concatenate(known)) if known else torch.zeros(0, dtype=torch.bool)
        )
        self.starts = (
            torch.from_numpy(np.concatenate(starts)).long()
            if starts
            else torch.zeros(0, dtype=torch.long)
        )
        self.episode_of = (
            torch.from_numpy(np.concatenate(episode_of)).long()
            if episode_of
            else torch.zeros(0, dtype=torch.long)
        )

    def __len__(self) -> int:
        return len(self.starts)

    @classmethod
    def for_model(cls, episodes: list[Episode], config, horizon: int | None = None) -> "WindowSet":
        """Windows as a model (its LatentModelConfig) takes them: its image size and fit, and
        what its encoder takes besides the frame (history, LaserScan); its own horizon unless
        ``horizon`` is given."""
        return cls(
            episodes,
            config.image_size,
            config.horizon if horizon is None else horizon,
            image_fit=config.image_fit,
            history_steps=config.history_steps,
            scan_sectors=config.scan_sectors,
        )

    @property
    def num_frames(self) -> int:
        return int(self.images.shape[0])

    def history_at(self, frames: torch.Tensor, steps: int) -> torch.Tensor:
        """The ``steps`` steps before each of the global frame indices ``frames`` (any shape
        [...]): [..., steps, 4] of (commanded v, w, measured v, w), most recent first. Before
        an episode's first step the first step's values stand in (as the running twin does
        with the oldest sample it has, core/live/motion_history.py)."""
        episode = np.searchsorted(self.offsets, frames.numpy(), side="right") - 1
        first = torch.from_numpy(self.offsets[episode]).long()
        back = frames[..., None] - torch.arange(1, steps + 1)
        back = torch.maximum(back, first[..., None])
        return torch.cat([self.commands[back], self.twists[back]], dim=-1)

    def gather(
        self, window_idx: torch.Tensor, consistency_steps: Sequence[int] = ()
    ) -> WindowBatch:
        """The windows ``window_idx`` (indices into this set) as a batch."""
        g0 = self.starts[window_idx]  # [B] global index of t0
        steps = torch.arange(self.horizon)
        during = g0[:, None] + steps  # t0 .. t0+H-1
        after = during + 1  # t0+1 .. t0+H
        start_pose = self.poses[g0]
        poses = self.poses[after]
        future_images = future_twists = None
        if consistency_steps:
            ks = torch.as_tensor(list(consistency_steps), dtype=torch.long)
            if int(ks.min()) < 1 or int(ks.max()) > self.horizon:
                raise ValueError(
                    f"consistency steps must lie in 1..{self.horizon}; got "
                    f"{list(consistency_steps)}"
                )
            future = g0[:, None] + ks
            future_images = self.images[future]
            future_twists = self.twists[future]
        scan = future_scan = None
        if self.scans is not None:
            scan = self.scans[g0]
            if consistency_steps:
                future_scan = self.scans[future]
        history = future_history = None
        if self.history_steps:
            history = self.history_at(g0, self.history_steps)
            if consistency_steps:
                future_history = self.history_at(future, self.history_steps)
        episode = self.episode_of[window_idx]
        return WindowBatch(
            images_bss3=self.images[g0],
            twist_b2=self.twists[g0],
            start_pose_b3=start_pose,
            actions_bh2=self.commands[during],
            deltas_bh3=self.deltas[during],
            rel_poses_bh3=relative_poses(start_pose, poses),
            poses_bh3=poses,
            twists_bh2=self.twists[after],
            contacts_bh=self.contacts[after],
            contact_known_b=self.contact_known[g0],
            future_images_bkss3=future_images,
            future_twists_bk2=future_twists,
            episode_b=episode,
            start_b=g0 - torch.from_numpy(self.offsets[episode.numpy()]).long(),
            arena=ArenaTensors(
                self.arena_obstacles[episode],
                self.arena_mask[episode],
                self.arena_half[episode],
                self.arena_radius[episode],
                self.arena_known[episode],
            ),
            costmap=self.costmap,
            history_bk4=history,
            future_history_bkk4=future_history,
            scan_bn=scan,
            future_scan_bkn=future_scan,
        )


def _scan_rows(episode: Episode, sectors: int) -> np.ndarray:
    """The episode's LaserScan input per step, or "no scan" throughout when it has none."""
    if episode.scan_tk is None:
        return np.tile(no_scan(sectors), (len(episode), 1))
    if episode.scan_tk.shape != (len(episode), sectors + 1):
        raise ValueError(
            f"{episode.source}: scan input of shape {list(episode.scan_tk.shape)}, the model "
            f"takes {sectors} sectors (+1)"
        )
    return episode.scan_tk


def split_by_episode(
    episodes: Sequence[Episode], validation_fraction: float, seed: int
) -> tuple[list[Episode], list[Episode]]:
    """Train/validation split that never puts one layout on both sides.

    Episodes are grouped by their arena's layout seed when it is known (simulator bags; a
    layout in both sets would make validation look better than the held-out test), otherwise by
    source and position (each episode its own group). A fixed seed gives the same split.
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1); got {validation_fraction}")
    groups: dict[str, list[Episode]] = {}
    for index, episode in enumerate(episodes):
        seed_of = episode.arena.layout_seed if episode.arena is not None else None
        key = f"layout:{seed_of}" if seed_of is not None else f"episode:{episode.source}:{index}"
        groups.setdefault(key, []).append(episode)
    keys = sorted(groups)
    rng = np.random.default_rng(seed)
    rng.shuffle(keys)
    n_val = int(round(validation_fraction * len(keys)))
    if validation_fraction > 0 and n_val == 0 and len(keys) > 1:
        n_val = 1
    val_keys = set(keys[:n_val])
    train = [e for k in sorted(groups) if k not in val_keys for e in groups[k]]
    val = [e for k in sorted(groups) if k in val_keys for e in groups[k]]
    return train, val
