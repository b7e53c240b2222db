"""What ``train`` trains on: bags (decoded into memory, for small jobs) or a dataset folder
from ``dataset build`` (streamed from its shards with memory bounded by a pool of records, or
loaded whole with ``--in-memory``). Split by layout either way, with the same result.
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path
from typing import Any

from .bag_input import attach_model_scans, compact_seeds, layout_seeds, load_bags
from .robot_input import apply_contact_labels


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--in-memory",
        action="store_true",
        help="dataset folder: load every episode into memory instead of streaming",
    )
    parser.add_argument(
        "--pool-frames",
        type=int,
        default=20_000,
        help="dataset folder: frames each process holds while streaming (default 20000, "
        "about 0.25 GB at 64x64; more mixes batches from more episodes)",
    )


def dataset_folder(paths: list[Path]) -> Path | None:
    """The dataset folder among ``paths`` (None for bags); raises ValueError for a mix."""
    from ..core.data.manifest import ShardDataset

    folders = [p for p in paths if ShardDataset.is_dataset(p)]
    if folders and len(paths) > 1:
        raise ValueError(
            f"give one dataset folder or bags, not both ({', '.join(map(str, paths))}); add "
            "bags to a dataset with `world-model-ros dataset build BAGS --out DATASET`"
        )
    return folders[0] if folders else None


def load_training_data(args: argparse.Namespace, config, dist, robot=None, log=print):
    """-> (training windows or stream, validation WindowSet or None, data description).
    Bags without a contact topic get labels from the robot's own experience
    (``robot_input.apply_contact_labels``; ``robot``: its robot file, or None).
    Raises ValueError (and ShardError, a ValueError) with a one-line reason."""
    from ..core.data.windows import WindowSet, split_by_episode

    started = time.monotonic()
    folder = dataset_folder(args.bags)
    if folder is None:
        size, fit = config.model.image_size, config.model.image_fit
        episodes, data_info = load_bags(args.bags, args, size, log=log, image_fit=fit)
        attach_model_scans(episodes, args, config.model, log=log)
        data_info["labels"] = apply_contact_labels(
            episodes, args, robot, need_labels=config.loss.collision > 0
        )
        train_episodes, val_episodes = split_by_episode(
            episodes, config.validation_fraction, config.seed
        )
        train_set = WindowSet.for_model(train_episodes, config.model)
        val_set = WindowSet.for_model(val_episodes, config.model) if val_episodes else None
        train_seeds, val_seeds = layout_seeds(train_episodes), layout_seeds(val_episodes)
        what = f"{len(train_episodes)} episode(s)"
    else:
        train_set, val_set, data_info, train_seeds, val_seeds, what = _from_dataset(
            folder, args, config, dist
        )
    data_info.update(
        train_layout_seeds=compact_seeds(train_seeds),
        validation_layout_seeds=compact_seeds(val_seeds),
        train_windows=len(train_set),
        validation_windows=len(val_set or []),
    )
    log(
        f"train: {len(train_set)} training windows from {what}, {len(val_set or [])} validation "
        f"windows (split by layout), {time.monotonic() - started:.0f} s to load"
    )
    return train_set, val_set, data_info


def _check_scan_input(folder: Path, settings, model) -> None:
    """A model that takes a LaserScan trains on a dataset that kept the same scan input (the
    sectors, the range, the mount), or it would learn from other numbers than its node gives."""
    if not model.scan_sectors:
        return
    if not settings.scan_sectors:
        raise ValueError(
            f"{folder}: built without the LaserScan input, and the model takes one "
            f"(model.scan_sectors: {model.scan_sectors}): rebuild with `dataset build "
            f"--scan-sectors {model.scan_sectors}`, train from the bags, or set "
            "model.scan_sectors: 0"
        )
    stored = (settings.scan_sectors, settings.scan_range_m, settings.scan_forward_m)
    wanted = (model.scan_sectors, model.scan_range_m, model.scan_forward_m)
    if any(abs(a - b) > 1e-9 for a, b in zip(stored, wanted, strict=True)):
        raise ValueError(
            f"{folder}: its LaserScan input has {stored[0]} sectors to {stored[1]:g} m from a "
            f"LiDAR {stored[2]:g} m ahead; the model takes {wanted[0]} to {wanted[1]:g} m from "
            f"{wanted[2]:g} m (set model.scan_sectors, scan_range_m, scan_forward_m to the "
            "dataset's, or rebuild it)"
        )


def _from_dataset(folder: Path, args, config, dist) -> tuple:
    from ..core.data.manifest import ShardDataset, record_windows
    from ..core.data.streaming import StreamingWindows, validation_episodes
    from ..core.data.windows import WindowSet
    from ..core.training.sampling import window_sampling_weights

    dataset = ShardDataset(folder)
    horizon, size = config.model.horizon, config.model.image_size
    kept = config.model.history_steps
    sectors = config.model.scan_sectors
    _check_scan_input(folder, dataset.settings, config.model)
    if abs(dataset.settings.dt_s - config.model.dt_s) > 1e-9:
        raise ValueError(
            f"{folder}: built at dt {dataset.settings.dt_s} s, the model steps "
            f"{config.model.dt_s} s"
        )
    if dataset.settings.image_fit != config.model.image_fit:
        raise ValueError(
            f"{folder}: frames stored with image fit {dataset.settings.image_fit}, but the "
            f"model's image_fit is {config.model.image_fit} (it would train on other frames "
            f"than its node sees): rebuild with `dataset build --image-fit "
            f"{config.model.image_fit}`, or set model.image_fit: {dataset.settings.image_fit} "
            "in the --config file"
        )
    _check_contact_labels(folder, dataset, config.loss.collision > 0)
    train_records, val_records = dataset.split(config.validation_fraction, config.seed)
    if args.in_memory:
        train_set = WindowSet(
            dataset.load_episodes(train_records),
            size,
            horizon,
            history_steps=kept,
            scan_sectors=sectors,
        )
        how = "in memory"
    else:
        train_set = StreamingWindows(
            dataset,
            train_records,
            size,
            horizon,
            dist.per_rank_batch(config.batch_size),
            config.consistency_steps,
            sampling_weights=partial(
                window_sampling_weights, rest_start_weight=config.rest_start_weight
            ),
            seed=config.seed,
            rank=dist.rank,
            world_size=dist.world_size,
            pool_frames=args.pool_frames,
            history_steps=kept,
            scan_sectors=sectors,
        )
        how = f"streamed, {len(train_set.shards)} shards"
    val_episodes = validation_episodes(dataset, val_records, horizon, config.validation_windows)
    val_set = (
        WindowSet(val_episodes, size, horizon, history_steps=kept, scan_sectors=sectors)
        if val_episodes
        else None
    )
    seeds = _seeds(train_records), _seeds(val_records)
    info: dict[str, Any] = _describe(dataset, train_records + val_records)
    episodes = len({r["episode"] for r in train_records})
    windows = sum(record_windows(r, horizon) for r in train_records)
    what = f"{episodes} episode(s) of {folder} ({how}; {windows} windows per epoch)"
    return train_set, val_set, info, *seeds, what


def _check_contact_labels(folder: Path, dataset, need_labels: bool) -> None:
    """Refuse (ValueError, one line) a collision head on a dataset whose records have no
    contact labels, or only derived ones that found no contact (as ``train BAGS`` refuses);
    records of datasets built before ``contact_steps`` was recorded are not counted."""
    if not need_labels:
        return
    labelled = [r for r in dataset.records if "contacts_t" in r.get("label_sources", {})]
    if not labelled:
        raise ValueError(
            f"{folder}: no episode has contact labels (its bags had no contact topic and "
            "were built without derived or bumper labels), so a collision head would learn "
            "from nothing: rebuild it with `dataset build --derive-contacts auto` (labels from "
            "commanded vs measured motion; --robot ROBOT_FILE gives the base limits) and "
            "--bumper-topic where the robot has a bumper, or pass --no-collision-head"
        )
    sources = [r["label_sources"]["contacts_t"] for r in labelled]
    sensed = any("contact topic" in s or "bumper" in s or s.startswith("topic ") for s in sources)
    counted = all("contact_steps" in r for r in labelled)
    if not sensed and counted and sum(int(r["contact_steps"]) for r in labelled) == 0:
        samples = sum(int(r["own_steps"]) for r in labelled)
        raise ValueError(
            f"{folder}: contacts derived from motion found none in {samples} samples, so a "
            "collision head would only learn where none is: add bags with contacts, a bumper "
            "(`dataset build --bumper-topic`), or pass --no-collision-head"
        )


def _seeds(records: list[dict]) -> list[int]:
    return sorted({int(r["layout_seed"]) for r in records if r.get("layout_seed") is not None})


def _describe(dataset, records: list[dict]) -> dict[str, Any]:
    """What the checkpoint's ``training.data`` says about a dataset folder."""
    samples = sum(int(r["own_steps"]) for r in records)
    return {
        "dataset": str(dataset.root),
        "bags": [b["name"] for b in dataset.bags],
        "robots": sorted({r.get("robot", "unknown") for r in records}),
        "layout_seeds": compact_seeds(_seeds(records)),
        "episodes": len({r["episode"] for r in records}),
        "samples": samples,
        "minutes": round(samples * dataset.settings.dt_s / 60, 1),
        "dt_s": dataset.settings.dt_s,
    }
