"""Bags -> a sharded dataset folder, in parallel worker processes (``dataset build``).

Each worker decodes one bag at a time with the ordinary loader (core/data/dataset.py, so the
dataset holds exactly what training from the bag would see), cuts long episodes into
segments, and writes that bag's own shard files; the parent only collects the manifest
entries. Adding bags to an existing folder appends their shards and manifest entries and
rewrites nothing else; a bag already in the dataset is skipped, settings that differ from the
folder's are refused.

Contact labels: an episode without a contact topic gets them in the worker, after decoding, as
``train BAGS`` would give them (core/data/labels.py ``label_episodes``: derived from commanded
versus measured motion, joined with a bumper's), with the base limits of a robot file or, without
one, estimated from the bag. Each record names where its labels came from.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections import Counter
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

NO_CONTACT_LABELS = "without contact labels"  # in the summary: episodes left without any

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
    label_episodes: Counter = dataclasses.field(default_factory=Counter)  # source -> episodes
    contact_steps: Counter = dataclasses.field(default_factory=Counter)  # source -> steps
    estimated_limits_bags: int = 0  # bags whose base limits were estimated from the bag
    episodes: int = 0
    scan_episodes: int = 0  # episodes with LaserScans (a dataset that keeps the scan input)

    def label_line(self) -> str:
        """'2 episode(s) derived from motion (31 contact steps), ...' for the summary line."""
        return ", ".join(
            f"{count} episode(s) {source}"
            + (
                ""
                if source == NO_CONTACT_LABELS
                else f" ({self.contact_steps[source]} contact steps)"
            )
            for source, count in sorted(self.label_episodes.items())
        )


def bag_bytes(bag: Path) -> int:
    bag = Path(bag)
    if bag.is_file():
        return bag.stat().st_size
    return sum(p.stat().st_size for p in bag.rglob("*") if p.is_file())


def contact_source(episode, topics: dict) -> str | None:
    """Where an episode's contact labels came from, with the topics named ("contact topic
    ground_truth/contact", "derived from motion + bumper /bumper"); None without labels."""
    if episode.contacts_t is None:
        return None
    named = {
        "contact topic": f"contact topic {topics.get('contact')}",
        "bumper": f"bumper {topics.get('bumper')}",
    }
    source = episode.metadata.get("contact_source") or "contact topic"
    return " + ".join(named.get(part, part) for part in source.split(" + "))


def label_bag(episodes: list, labels: dict) -> dict[str, Any] | None:
    """Fill the contact labels of a bag's episodes that have none (``labels["derive"]``: auto,
    always or never, as ``train --derive-contacts``), with the robot file's base limits
    (``labels["limits"]``) or, without them, limits estimated from this bag. Episodes with a
    contact topic keep it (auto, never) and are left untouched. Returns what the bag entry
    records about it (None when no episode needed labels)."""
    from .labels import BaseLimits, estimate_limits, label_episodes

    derive = labels.get("derive", "auto")
    todo = [e for e in episodes if derive == "always" or e.contacts_t is None]
    if not todo:
        return None
    limits = BaseLimits(**labels["limits"]) if labels.get("limits") else None
    estimated = limits is None and derive != "never"
    if estimated:
        limits = estimate_limits(episodes)
    label_episodes(todo, limits, derive=derive)
    for episode in todo:
        # its flags are in contacts_t now; a copy in the metadata would not follow a segment's cut
        episode.metadata.pop("bumper_t", None)
    return {
        "derive_contacts": derive,
        "limits": None if limits is None or derive == "never" else dataclasses.asdict(limits),
        "limits_from": "estimated from this bag" if estimated else labels.get("limits_from"),
    }


def _label_sources(episode, topics: dict) -> dict[str, str]:
    sources = {}
    for name in per_step_fields(episode):
        if name == "contacts_t":
            sources[name] = str(contact_source(episode, topics))
        elif name not in INPUT_FIELDS:
            sources[name] = "episode field"
    if getattr(episode, "arena", None) is not None:
        sources["arena"] = "bag metadata (world_model_ros.arena)"
    sources.update(episode.metadata.get("label_sources", {}) or {})
    return sources


def _robot_name(value: str | None) -> str:
    """The robot name of a bag's metadata: the recorder writes the whole robot description
    (JSON) under that key; a plain name is taken as it is."""
    if not value:
        return "unknown"
    try:
        description = json.loads(value)
    except ValueError:
        return value
    return str(description.get("name") or value) if isinstance(description, dict) else value


def build_one_bag(
    bag: str,
    bag_index: int,
    settings: dict,
    out_dir: str,
    robot: str | None,
    labels: dict | None = None,
) -> dict[str, Any]:
    """Worker: decode one bag, fill its contact labels (:func:`label_bag`; ``labels``: its
    arguments, default derive auto with limits estimated from the bag) and write its shards.
    Returns its manifest entries (no arrays)."""
    import cv2

    from .bag_format import BagTopics, read_custom_data
    from .dataset import load_episodes
    from .scans import attach_bag_scans

    cv2.setNumThreads(1)
    config = DatasetSettings(**settings)
    episodes, report = load_episodes(
        [bag],
        BagTopics(**config.topics),
        dt_s=config.dt_s,
        image_size=config.image_size,
        image_fit=config.image_fit,
        twist_from_poses=config.twist_from_poses,
    )
    if not episodes:
        problems = "; ".join(report.problems) or report.summary()
        return {"bag": bag, "failed": f"{bag}: no usable episodes ({problems})"}
    errors = [p.line() for p in report.doctor if p.severity == "error"]
    if errors:  # the data doctor's verdict, as train BAGS would give it: not added
        return {"bag": bag, "failed": f"unusable (data doctor): {'; '.join(errors)}"}
    labelled = label_bag(episodes, labels or {"derive": "auto"})
    scanned = (  # the encoder's LaserScan input per step, when the dataset keeps one
        attach_bag_scans(
            episodes,
            config.scan_topic,
            config.scan_forward_m,
            config.scan_sectors,
            config.scan_range_m,
        )
        if config.scan_sectors
        else 0
    )
    custom = read_custom_data(Path(bag)) if Path(bag).is_dir() else {}
    stem = f"b{bag_index:06d}"
    writer = ShardWriter(Path(out_dir) / SHARD_FOLDER, stem, int(config.shard_mb * 2**20))
    records = []
    label_counts: dict[str, list[int]] = {}  # source -> [episodes, contact steps]
    for e_index, episode in enumerate(episodes):
        source = contact_source(episode, config.topics) or NO_CONTACT_LABELS
        counts = label_counts.setdefault(source, [0, 0])
        counts[0] += 1
        counts[1] += 0 if episode.contacts_t is None else int(episode.contacts_t.sum())
        name = robot or episode.metadata.get("robot") or _robot_name(custom.get(ROBOT_KEY))
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
            if part.contacts_t is not None:
                record["contact_steps"] = int(part.contacts_t[:own].sum())
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
            **({"scan_episodes": scanned} if config.scan_sectors else {}),
            "shards": [s["name"] for s in shards],
            **({"labels": labelled} if labelled else {}),
        },
        "shards": [dict(s, bag=bag_index) for s in shards],
        "records": records,
        "label_counts": label_counts,
    }


def build_dataset(
    bags: list[Path],
    out_dir: Path,
    settings: DatasetSettings,
    workers: int = 0,
    robot: str | None = None,
    progress: Callable[[int], None] | None = None,
    log: Callable[[str], None] = print,
    labels: dict | None = None,
) -> BuildSummary:
    """Decode ``bags`` into ``out_dir`` (created or appended to). ``progress(n)`` gets the bag
    bytes done; ``labels``: how episodes without a contact topic get contact labels
    (:func:`label_bag`). Raises ValueError when the folder's settings differ from
    ``settings``."""
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
            collect(
                build_one_bag(
                    path, index, dataclasses.asdict(settings), str(out_dir), robot, labels
                )
            )
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = [
                pool.submit(
                    build_one_bag,
                    path,
                    index,
                    dataclasses.asdict(settings),
                    str(out_dir),
                    robot,
                    labels,
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
        summary.episodes += result["entry"]["episodes"]
        summary.scan_episodes += result["entry"].get("scan_episodes", 0)
        summary.shard_bytes += sum(s["bytes"] for s in result["shards"])
        for source, (episodes, contact_steps) in result["label_counts"].items():
            summary.label_episodes[source] += episodes
            summary.contact_steps[source] += contact_steps
        if result["entry"].get("labels", {}).get("limits_from") == "estimated from this bag":
            summary.estimated_limits_bags += 1
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
