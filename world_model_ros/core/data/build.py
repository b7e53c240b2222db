"""Bags -> a sharded dataset folder, in parallel worker processes (``dataset build``).

Each worker decodes one bag at a time with the ordinary loader (core/data/dataset.py, so the
dataset holds exactly what training from the bag would see), cuts long episodes into
segments, and writes that bag's own shard files; the parent only collects the manifest
entries. Adding bags to an existing folder appends their shards and manifest entries and
rewrites nothing else; a bag already in the dataset is skipped, settings that differ from the
folder's are refused.
"""

from __future__ import annotations

import dataclasses
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable

from .manifest import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST_NAME,
    SHARD_FOLDER,
    DatasetSettings,
    ShardDataset,
    segment_bounds,
    write_manifest,
)
from .shards import ShardError, ShardWriter, per_step_fields, slice_episode

# Per-step fields that are inputs, not labels (everything else per step is a label).
INPUT_FIELDS = {"stamps_s", "images_thw3", "poses_t3", "twists_t2", "commands_t2"}
ROBOT_KEY = "world_model_ros.robot"  # bag metadata key a recorder may set


@dataclasses.dataclass
class BuildSummary:
    added_bags: int = 0
    skipped_bags: list[str] = dataclasses.field(default_factory=list)  # already in the dataset
    failed_bags: list[str] = dataclasses.field(default_factory=list)  # one line per bag
    records: int = 0
    samples: int = 0
    shard_bytes: int = 0
    seconds: float = 0.0


def bag_bytes(bag: Path) -> int:
    bag = Path(bag)
    if bag.is_file():
        return bag.stat().st_size
    return sum(p.stat().st_size for p in bag.rglob("*") if p.is_file())


def _label_sources(episode, topics: dict) -> dict[str, str]:
    sources = {}
    for name in per_step_fields(episode):
        if name == "contacts_t":
            sources[name] = f"topic {topics.get('contact')}"
        elif name not in INPUT_FIELDS:
            sources[name] = "episode field"
    if getattr(episode, "arena", None) is not None:
        sources["arena"] = "bag metadata (world_model_ros.arena)"
    sources.update(episode.metadata.get("label_sources", {}) or {})
    return sources


def build_one_bag(
    bag: str, bag_index: int, settings: dict, out_dir: str, robot: str | None
) -> dict[str, Any]:
    """Worker: decode one bag and write its shards. Returns its manifest entries (no arrays)."""
    import cv2

    from .bag_format import BagTopics, read_custom_data
    from .dataset import load_episodes

    cv2.setNumThreads(1)
    config = DatasetSettings(**settings)
    episodes, report = load_episodes(
        [bag], BagTopics(**config.topics), dt_s=config.dt_s, image_size=config.image_size
    )
    if not episodes:
        problems = "; ".join(report.problems) or report.summary()
        return {"bag": bag, "failed": f"{bag}: no usable episodes ({problems})"}
    custom = read_custom_data(Path(bag)) if Path(bag).is_dir() else {}
    stem = f"b{bag_index:06d}"
    writer = ShardWriter(Path(out_dir) / SHARD_FOLDER, stem, int(config.shard_mb * 2**20))
    records = []
    for e_index, episode in enumerate(episodes):
        name = robot or episode.metadata.get("robot") or custom.get(ROBOT_KEY) or "unknown"
        bounds = segment_bounds(len(episode), config.segment_steps, config.overlap_steps)
        for s_index, (start, own, stop) in enumerate(bounds):
            part = episode if len(bounds) == 1 else slice_episode(episode, start, stop)
            record = {
                "episode": f"{stem}-e{e_index:04d}",
                "segment": s_index,
                "segments": len(bounds),
                "bag": bag_index,
                "robot": str(name),
                "source": episode.source,
                "layout_seed": episode.metadata.get("layout_seed"),
                "has_arena": getattr(episode, "arena", None) is not None,
                "start_step": start,
                "steps": stop - start,
                "own_steps": own,
                "stamp_start_s": float(episode.stamps_s[start]),
                "stamp_end_s": float(episode.stamps_s[stop - 1]),
                "label_sources": _label_sources(episode, config.topics),
            }
            records.append(writer.write(part, record))
    shards = writer.close()
    return {
        "bag": bag,
        "entry": {
            "index": bag_index,
            "path": bag,
            "name": Path(bag).name,
            "bytes": bag_bytes(Path(bag)),
            "robots": sorted({r["robot"] for r in records}),
            "report": report.summary(),
            "problems": list(report.problems),
            "episodes": len(episodes),
            "samples": sum(len(e) for e in episodes),
            "shards": [s["name"] for s in shards],
        },
        "shards": [dict(s, bag=bag_index) for s in shards],
        "records": records,
    }


def build_dataset(
    bags: list[Path],
    out_dir: Path,
    settings: DatasetSettings,
    workers: int = 0,
    robot: str | None = None,
    progress: Callable[[int], None] | None = None,
    log: Callable[[str], None] = print,
) -> BuildSummary:
    """Decode ``bags`` into ``out_dir`` (created or appended to). ``progress(n)`` gets the bag
    bytes done. Raises ValueError when the folder's settings differ from ``settings``."""
    settings.validate()
    out_dir = Path(out_dir)
    started = time.monotonic()
    summary = BuildSummary()
    if ShardDataset.is_dataset(out_dir):
        existing = ShardDataset(out_dir)
        if dataclasses.replace(existing.settings, shard_mb=settings.shard_mb) != settings:
            raise ValueError(
                f"{out_dir / MANIFEST_NAME}: built with {dataclasses.asdict(existing.settings)}; "
                f"cannot add bags decoded with {dataclasses.asdict(settings)} (build a new folder)"
            )
        manifest = existing.manifest
    else:
        from ..model.checkpoint import code_version

        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "code_version": code_version(),
            "settings": dataclasses.asdict(settings),
            "bags": [],
            "shards": [],
            "records": [],
        }
    known = {b["path"] for b in manifest["bags"]}
    todo = []
    next_index = max((b["index"] for b in manifest["bags"]), default=-1) + 1
    for bag in bags:
        path = str(Path(bag).resolve())
        if path in known:
            summary.skipped_bags.append(path)
            if progress:
                progress(bag_bytes(Path(path)))
            continue
        known.add(path)
        todo.append((path, next_index))
        next_index += 1
    out_dir.mkdir(parents=True, exist_ok=True)
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    results = []

    def collect(result: dict) -> None:
        if progress:
            progress(bag_bytes(Path(result["bag"])))
        if "failed" in result:
            summary.failed_bags.append(result["failed"])
            log(f"dataset: {result['failed']}")
            return
        results.append(result)

    if workers == 1:
        for path, index in todo:
            collect(build_one_bag(path, index, dataclasses.asdict(settings), str(out_dir), robot))
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = [
                pool.submit(
                    build_one_bag, path, index, dataclasses.asdict(settings), str(out_dir), robot
                )
                for path, index in todo
            ]
            for future in as_completed(futures):
                collect(future.result())
    results.sort(key=lambda r: r["entry"]["index"])  # dataset order = the order bags were given
    for result in results:
        manifest["bags"].append(result["entry"])
        manifest["shards"].extend(result["shards"])
        manifest["records"].extend(result["records"])
        summary.records += len(result["records"])
        summary.samples += result["entry"]["samples"]
        summary.shard_bytes += sum(s["bytes"] for s in result["shards"])
    summary.added_bags = len(results)
    if results or not (out_dir / MANIFEST_NAME).exists():
        write_manifest(out_dir, manifest)
    summary.seconds = time.monotonic() - started
    return summary


def verify_dataset(
    root: Path, progress: Callable[[int], None] | None = None
) -> tuple[int, list[str]]:
    """Check every shard's size and SHA-256 and that its records decode; returns (shards
    checked, one line per problem naming the file)."""
    dataset = ShardDataset(root)
    problems = []
    for name in dataset.shards:
        try:
            shard = dataset.open_shard(name)
            for _ in shard.records():
                pass
        except ShardError as error:
            problems.append(str(error))
        if progress:
            progress(1)
    return len(dataset.shards), problems
