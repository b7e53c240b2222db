"""Training windows streamed from a sharded dataset, memory bounded by a pool of records.

The in-memory path (windows.WindowSet over every episode) holds all frames at once: about
0.45 GB per hour of 64x64 frames at 10 Hz. Here a rank holds only a **pool** of records
(about ``pool_frames`` frames) and one shard file:

* Each epoch the training shards are shuffled (seed, epoch) and dealt to ranks
  (``order[rank::world_size]``); a rank reads its shards one after the other, records in a
  shuffled order.
* A record entering the pool gets its list of window draws: every window it owns, repeated by
  its sampling weight (so "rest starts drawn 4x as often" holds as in memory), shuffled.
* Each **generation** builds one ordinary WindowSet over the pool and serves a shuffled mix of
  ``1/lifetime`` of each record's remaining draws; records that have served all their draws
  leave and new ones come in. Every batch mixes windows from the whole pool, every window is
  drawn once per epoch, and the WindowSet/WindowBatch code (and any per-step field it learns)
  is the same as in memory.

Everything is seeded by (seed, rank, world size, generation), so a run is reproducible for a
given world size, and :meth:`state_dict` is small (record ids and remaining draws).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .episodes import Episode
from .manifest import ShardDataset, record_windows
from .shards import ShardError, slice_episode
from .windows import WindowBatch, WindowSet


def normalisation_windows(
    dataset: ShardDataset, records: list[dict], horizon: int, max_frames: int = 1_000_000
) -> WindowSet:
    """A WindowSet (1x1 frames: the camera is not read) over the training episodes, or an even
    sample of them past ``max_frames`` (about 28 h at 10 Hz; it holds about 0.4 GB while the
    statistics are computed), for trainer.compute_normalisation: with every episode the
    statistics are exactly those of in-memory training."""
    keys = list(dict.fromkeys(r["episode"] for r in records))
    step = max(1, int(np.ceil(sum(int(r["own_steps"]) for r in records) / max_frames)))
    chosen = set(keys[::step])
    episodes = dataset.load_episodes([r for r in records if r["episode"] in chosen], frames=False)
    return WindowSet(episodes, 1, horizon)


def validation_episodes(
    dataset: ShardDataset, records: list[dict], horizon: int, windows: int, run: int = 8
) -> list[Episode]:
    """Episodes to validate on, bounded in memory: all validation episodes when they hold at
    most ``windows`` windows, else runs of ``run`` consecutive windows spread evenly over them
    (each run a short episode of run + horizon steps)."""
    counts = np.array([record_windows(r, horizon) for r in records])
    if counts.sum() <= windows:
        return dataset.load_episodes(records)
    starts = np.linspace(0, counts.sum() - 1, int(np.ceil(windows / run))).astype(np.int64)
    first_window = np.concatenate([[0], np.cumsum(counts)])
    wanted: dict[int, list[int]] = {}
    for start in starts:
        index = int(np.searchsorted(first_window, start, side="right") - 1)
        local = min(int(start - first_window[index]), max(0, int(counts[index]) - run))
        wanted.setdefault(index, []).append(local)
    parts = dataset.read_records([records[i] for i in wanted])
    out = []
    for (index, locals_), episode in zip(wanted.items(), parts, strict=True):
        for local in sorted(set(locals_)):
            stop = min(local + run, int(counts[index])) + horizon
            out.append(slice_episode(episode, local, stop))
    return out


class StreamingWindows:
    """Batches of training windows streamed from ``records`` of a dataset (see the module
    docstring). ``sampling_weights(windows)`` gives per-window weights (None: uniform)."""

    def __init__(
        self,
        dataset: ShardDataset,
        records: list[dict],
        image_size: int,
        horizon: int,
        batch_size: int,
        consistency_steps: Sequence[int] = (),
        sampling_weights: Callable[[WindowSet], torch.Tensor | None] | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        pool_frames: int = 20_000,
        lifetime: int = 2,
        history_steps: int = 0,
        scan_sectors: int = 0,
    ):
        if horizon > dataset.settings.overlap_steps and any(
            int(r["segments"]) > 1 for r in records
        ):
            raise ValueError(
                f"{dataset.root}: horizon {horizon} is longer than the segment overlap "
                f"{dataset.settings.overlap_steps} it was built with (rebuild with "
                f"--overlap-steps {horizon})"
            )
        if batch_size < 1 or lifetime < 1 or not 0 <= rank < world_size:
            raise ValueError(
                f"need batch_size, lifetime >= 1 and 0 <= rank < world_size; got {batch_size}, "
                f"{lifetime}, {rank}, {world_size}"
            )
        self.dataset, self.image_size, self.horizon = dataset, image_size, horizon
        self.batch_size, self.consistency_steps = batch_size, tuple(consistency_steps)
        self.sampling_weights = sampling_weights
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.pool_frames, self.lifetime = pool_frames, lifetime
        self.history_steps = history_steps  # steps before each window (the encoder's history)
        self.scan_sectors = scan_sectors  # the stored LaserScan input, for a model taking one
        self.all_records = list(records)
        self.records = [r for r in records if record_windows(r, horizon) > 0]
        self.shards = sorted({r["shard"] for r in self.records})
        if len(self.shards) < world_size:
            raise ValueError(
                f"{dataset.root}: {len(self.shards)} training shard(s) for {world_size} ranks; "
                "each rank needs at least one (build with a smaller --shard-mb or add bags)"
            )
        self._order_cache: tuple[int, list[int]] | None = None
        self._shard: tuple[str, Any] | None = None
        self._episodes: dict[int, Episode] = {}
        self.windows: WindowSet | None = None
        self._queue = np.zeros(0, np.int64)
        self._position = 0
        self._state: dict[str, Any] = {
            "epoch": 0,
            "cursor": 0,
            "start": 0,
            "generation": 0,
            "pool": [],
        }
        self._snapshot = self._copy_state()

    def __len__(self) -> int:
        """Windows in the training records (all ranks together): one epoch."""
        return sum(record_windows(r, self.horizon) for r in self.records)

    # -- the record stream ------------------------------------------------------------------
    def _epoch_order(self, epoch: int) -> list[int]:
        if self._order_cache is None or self._order_cache[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            shards = [self.shards[i] for i in rng.permutation(len(self.shards))]
            mine = set(shards[self.rank :: self.world_size])
            by_shard: dict[str, list[int]] = {}
            for index, record in enumerate(self.records):
                if record["shard"] in mine:
                    by_shard.setdefault(record["shard"], []).append(index)
            order: list[int] = []
            for shard in shards:
                if shard in by_shard:
                    order.extend(by_shard[shard][i] for i in rng.permutation(len(by_shard[shard])))
            self._order_cache = (epoch, order)
        return self._order_cache[1]

    def epoch_records(self, epoch: int) -> list[dict]:
        """The records this rank reads in ``epoch``, in order."""
        return [self.records[i] for i in self._epoch_order(epoch)]

    def _next_record(self) -> int:
        state = self._state
        order = self._epoch_order(state["epoch"])
        if state["cursor"] >= len(order):
            state["epoch"], state["cursor"] = state["epoch"] + 1, 0
            order = self._epoch_order(state["epoch"])
        state["cursor"] += 1
        return order[state["cursor"] - 1]

    def _read(self, index: int) -> Episode:
        record = self.records[index]
        if self._shard is None or self._shard[0] != record["shard"]:
            self._shard = (record["shard"], None)  # drop the old file before reading the next
            self._shard = (record["shard"], self.dataset.open_shard(record["shard"]))
        return self._shard[1].read(int(record["row_group"]))[0]

    # -- generations ------------------------------------------------------------------------
    def _copy_state(self) -> dict:
        state = dict(self._state)
        state["pool"] = [
            dict(e, draws=None if e["draws"] is None else e["draws"].copy())
            for e in self._state["pool"]
        ]
        return state

    def _build_generation(self) -> None:
        self._snapshot = self._copy_state()
        state = self._state
        rng = np.random.default_rng(
            [self.seed, self.rank, self.world_size, state["start"], state["generation"]]
        )
        pool = state["pool"]
        first = state["generation"] == 0
        need = self.lifetime * 2 * self.batch_size
        while (
            sum(int(self.records[e["record"]]["steps"]) for e in pool) < self.pool_frames
            or sum(record_windows(self.records[e["record"]], self.horizon) for e in pool) < need
        ):
            portions = 1 + len(pool) % self.lifetime if first else self.lifetime
            pool.append({"record": self._next_record(), "draws": None, "portions": portions})
        keep = {e["record"] for e in pool}
        self._episodes = {k: v for k, v in self._episodes.items() if k in keep}
        self.windows = None  # free the last generation before building the next
        for entry in pool:
            if entry["record"] not in self._episodes:
                self._episodes[entry["record"]] = self._read(entry["record"])
        windows = WindowSet(
            [self._episodes[e["record"]] for e in pool],
            self.image_size,
            self.horizon,
            history_steps=self.history_steps,
            scan_sectors=self.scan_sectors,
        )
        base = np.searchsorted(windows.episode_of.numpy(), np.arange(len(pool)))
        weights = self.sampling_weights(windows) if self.sampling_weights else None
        queue = []
        for i, entry in enumerate(pool):
            if entry["draws"] is None:
                owned = np.arange(record_windows(self.records[entry["record"]], self.horizon))
                if weights is not None:
                    w = weights[base[i] + owned].numpy()
                    repeats = np.floor(w).astype(np.int64)
                    repeats += rng.random(len(w)) < (w - repeats)
                    owned = np.repeat(owned, repeats)
                entry["draws"] = rng.permutation(owned)
            take = int(np.ceil(len(entry["draws"]) / entry["portions"]))
            queue.append(base[i] + entry["draws"][:take])
            entry["draws"], entry["portions"] = entry["draws"][take:], entry["portions"] - 1
        state["pool"] = [e for e in pool if e["portions"] > 0 and len(e["draws"])]
        state["generation"] += 1
        self.windows = windows
        self._queue = rng.permutation(np.concatenate(queue))
        self._position = 0

    def next_batch(self) -> WindowBatch:
        """The next ``batch_size`` windows (a generation's last few, fewer than a batch, are
        skipped)."""
        if self.windows is None or self._position + self.batch_size > len(self._queue):
            self._build_generation()
            if len(self._queue) < self.batch_size:
                raise ValueError(
                    f"a generation of rank {self.rank} holds {len(self._queue)} windows, fewer "
                    f"than a batch of {self.batch_size}; raise pool_frames or lower the batch"
                )
        index = self._queue[self._position : self._position + self.batch_size]
        self._position += self.batch_size
        assert self.windows is not None  # built above
        return self.windows.gather(torch.from_numpy(index), self.consistency_steps)

    # -- resume -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Where the stream is: the state the current generation was built from, and how many
        of its batches were served (plain types and tensors, for torch.save weights_only)."""
        snap = self._snapshot
        return {
            "epoch": snap["epoch"],
            "cursor": snap["cursor"],
            "start": snap["start"],
            "generation": snap["generation"],
            "served": self._position // self.batch_size if self.windows is not None else 0,
            "built": self.windows is not None,
            "pool": [
                {
                    "record": self.records[e["record"]]["episode"]
                    + f"/{self.records[e['record']]['segment']}",
                    "draws": None if e["draws"] is None else torch.from_numpy(e["draws"]),
                    "portions": e["portions"],
                }
                for e in snap["pool"]
            ],
            "world_size": self.world_size,
            "rank": self.rank,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue exactly where :meth:`state_dict` was taken (same world size)."""
        index_of = {f"{r['episode']}/{r['segment']}": i for i, r in enumerate(self.records)}
        try:
            pool = [
                {
                    "record": index_of[e["record"]],
                    "draws": None if e["draws"] is None else e["draws"].numpy().copy(),
                    "portions": int(e["portions"]),
                }
                for e in state["pool"]
            ]
        except KeyError as error:
            raise ShardError(self.dataset.manifest_path, f"resume: no record {error}") from None
        self._state = {
            "epoch": int(state["epoch"]),
            "cursor": int(state["cursor"]),
            "start": int(state["start"]),
            "generation": int(state["generation"]),
            "pool": pool,
        }
        self._snapshot, self.windows = self._copy_state(), None
        if state.get("built"):
            self._build_generation()
            self._position = int(state["served"]) * self.batch_size

    def restart(self, epoch: int) -> None:
        """Start a fresh pass at ``epoch`` (resume under another world size)."""
        self._state = {"epoch": epoch, "cursor": 0, "start": epoch, "generation": 0, "pool": []}
        self._snapshot, self.windows = self._copy_state(), None

    def normalisation_set(self) -> WindowSet:
        """What trainer.compute_normalisation reads (every training record, all ranks)."""
        return normalisation_windows(self.dataset, self.all_records, self.horizon)

    @property
    def epoch(self) -> int:
        return int(self._state["epoch"])
