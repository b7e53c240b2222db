"""A preprocessed dataset folder: ``manifest.json`` + ``shards/*.parquet`` (core/data/shards.py).

The manifest says what is in the shards without reading them: the settings every bag was
decoded with (dt, image size, topics, segment length), each source bag (path, robot, load
report, its shards), each shard (bytes, SHA-256, records) and each record (an episode or a
segment of a long one: source bag, robot, episode bounds in steps and stamps, layout seed,
label sources, where it lies). Training splits, shards by rank and counts windows from it.

Long episodes are cut into segments of ``segment_steps`` that overlap the next one by
``overlap_steps``, so a record stays small in memory and every window (horizon <= overlap)
still lies wholly inside one record: a record owns the windows that start in its first
``own_steps`` steps.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
from pathlib import Path
from typing import Any, cast

import numpy as np

from .episodes import Episode
from .shards import ShardError, ShardFile, per_step_fields

MANIFEST_NAME = "manifest.json"
SHARD_FOLDER = "shards"
FORMAT = "world_model_ros/episode-dataset"
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class DatasetSettings:
    """How bags were decoded into the dataset (all of its bags share them)."""

    dt_s: float = 0.1
    image_size: int = 64
    segment_steps: int = 1200  # records longer than this are cut into segments
    overlap_steps: int = 64  # steps a segment shares with the next (>= the training horizon)
    shard_mb: float = 128.0
    topics: dict = dataclasses.field(default_factory=dict)  # BagTopics as a dict
    # How frames were brought to image_size (core/data/camera.fit_image); a model trained on
    # the dataset must use the same, or it would see other frames than its node does. Older
    # manifests have no such key: they were built with crop.
    image_fit: str = "crop"
    twist_from_poses: bool = (
        False  # the odometry twist rebuilt from the poses (--twist-from-poses)
    )
    # The encoder's LaserScan input stored per step (core/data/scan_input.py; 0: none): a
    # model that takes a scan trains on these and must take the same sectors, range and mount
    scan_sectors: int = 0
    scan_range_m: float = 3.0
    scan_forward_m: float = 0.0
    scan_topic: str = ""

    def validate(self) -> None:
        from .camera import FIT_MODES

        if self.image_fit not in FIT_MODES:
            raise ValueError(
                f"image_fit must be one of {', '.join(FIT_MODES)}; got {self.image_fit!r}"
            )
        if not self.dt_s > 0 or self.image_size < 8 or self.shard_mb <= 0:
            raise ValueError(
                f"need dt_s > 0, image_size >= 8, shard_mb > 0; got {self.dt_s}, "
                f"{self.image_size}, {self.shard_mb}"
            )
        if self.scan_sectors < 0 or not self.scan_range_m > 0:
            raise ValueError(
                f"need scan_sectors >= 0, scan_range_m > 0; got {self.scan_sectors}, "
                f"{self.scan_range_m}"
            )
        if self.scan_sectors and not self.scan_topic:
            raise ValueError("scan_sectors needs a scan topic")
        if not 1 <= self.overlap_steps < self.segment_steps:
            raise ValueError(
                f"need 1 <= overlap_steps < segment_steps; got {self.overlap_steps}, "
                f"{self.segment_steps}"
            )


def segment_bounds(length: int, segment_steps: int, overlap_steps: int) -> list[tuple]:
    """(start, own_steps, stop) of each segment of an episode of ``length`` steps."""
    if length <= segment_steps:
        return [(0, length, length)]
    own = segment_steps - overlap_steps
    bounds = []
    for start in range(0, length, own):
        stop = min(length, start + segment_steps)
        last = stop == length
        bounds.append((start, stop - start if last else own, stop))
        if last:
            break
    return bounds


def record_windows(record: dict[str, Any], horizon: int) -> int:
    """Windows of ``horizon`` steps that a record owns (as WindowSet would count them)."""
    return max(0, min(int(record["own_steps"]), int(record["steps"]) - horizon))


class ShardDataset:
    """A dataset folder opened for reading. Raises ShardError naming the manifest when it is
    missing, unreadable or of another format."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.manifest_path = self.root / MANIFEST_NAME
        try:
            manifest = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            raise ShardError(self.manifest_path, "missing: not a dataset folder") from None
        except (OSError, ValueError) as error:
            raise ShardError(self.manifest_path, f"unreadable ({error})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ShardError(self.manifest_path, f"not a {FORMAT} manifest")
        if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
            raise ShardError(
                self.manifest_path,
                f"format version {manifest['format_version']} is newer than this code's "
                f"{FORMAT_VERSION}",
            )
        try:
            self.settings = DatasetSettings(**manifest["settings"])
            self.bags: list[dict] = list(manifest["bags"])
            self.shards: dict[str, dict] = {s["name"]: s for s in manifest["shards"]}
            self.records: list[dict] = list(manifest["records"])
            missing = {r["shard"] for r in self.records} - set(self.shards)
        except (KeyError, TypeError) as error:
            raise ShardError(
                self.manifest_path, f"malformed ({type(error).__name__}: {error})"
            ) from None
        if missing:
            raise ShardError(
                self.manifest_path, f"records name unlisted shards: {', '.join(sorted(missing))}"
            )
        self.manifest = manifest

    @staticmethod
    def is_dataset(path: Path | str) -> bool:
        return (Path(path) / MANIFEST_NAME).is_file()

    def shard_path(self, name: str) -> Path:
        return self.root / SHARD_FOLDER / name

    def open_shard(self, name: str) -> ShardFile:
        entry = self.shards[name]
        return ShardFile(self.shard_path(name), entry.get("bytes"), entry.get("sha256"))

    @property
    def samples(self) -> int:
        return sum(int(r["own_steps"]) for r in self.records)

    def episode_keys(self) -> list[str]:
        """One key per whole episode, in dataset order (segments share their episode's key)."""
        return list(dict.fromkeys(r["episode"] for r in self.records))

    def split(self, validation_fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
        """Records of the training and validation episodes, by the same rule (and with the same
        result) as windows.split_by_episode on the loaded episodes: one layout never on both
        sides."""
        from .windows import split_by_episode

        first: dict[Any, dict] = {}
        for record in self.records:
            first.setdefault(record["episode"], record)
        stand_ins = [  # what split_by_episode looks at: the arena's layout seed and the source
            types.SimpleNamespace(
                key=key,
                source=first[key]["source"],
                arena=None
                if first[key].get("layout_seed") is None or not first[key].get("has_arena")
                else types.SimpleNamespace(layout_seed=first[key]["layout_seed"]),
            )
            for key in self.episode_keys()
        ]
        # The stand-ins have what split_by_episode reads of an Episode (duck typing).
        train, val = cast(Any, split_by_episode)(stand_ins, validation_fraction, seed)
        train_keys, val_keys = {s.key for s in train}, {s.key for s in val}
        return (
            [r for r in self.records if r["episode"] in train_keys],
            [r for r in self.records if r["episode"] in val_keys],
        )

    def read_records(self, records: list[dict], frames: bool = True) -> list[Episode]:
        """The records' Episodes, in the given order, each shard read once (``frames=False``:
        without decoding the camera frames, see ShardFile.read)."""
        by_shard: dict[str, list[int]] = {}
        for index, record in enumerate(records):
            by_shard.setdefault(record["shard"], []).append(index)
        out: list[Episode | None] = [None] * len(records)
        for name, indices in by_shard.items():
            shard = self.open_shard(name)
            for index in indices:
                out[index] = shard.read(int(records[index]["row_group"]), frames)[0]
        return out  # type: ignore[return-value]

    def load_episodes(
        self, records: list[dict] | None = None, frames: bool = True
    ) -> list[Episode]:
        """Whole episodes (segments joined again), in dataset order: what load_episodes gave
        for the same bags."""
        records = self.records if records is None else records
        parts = self.read_records(records, frames)
        episodes: list[Episode] = []
        group: list[tuple[dict, Episode]] = []
        for record, part in zip(records, parts, strict=True):
            if group and group[0][0]["episode"] != record["episode"]:
                episodes.append(_join(group))
                group = []
            group.append((record, part))
        if group:
            episodes.append(_join(group))
        return episodes


def _join(group: list[tuple[dict, Episode]]) -> Episode:
    """Segments of one episode -> the episode (each segment's own steps, in order)."""
    if len(group) == 1:
        return group[0][1]
    first = group[0][1]
    steps = per_step_fields(first)
    joined: dict[str, Any] = {
        name: np.concatenate([getattr(e, name)[: int(r["own_steps"])] for r, e in group])
        for name in steps
    }
    return dataclasses.replace(first, **joined)


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    """Write manifest.json atomically (a crash leaves the old one, never half a file)."""
    path = Path(root) / MANIFEST_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, path)
