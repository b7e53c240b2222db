"""Which on-disk format should the sharded dataset use? Write and read the same episodes in each
candidate and time it (docs/training_at_scale.md quotes the result).

Candidates (all installable from PyPI, all streamable from disk): WebDataset tar shards of
``.npy`` members (plain and gzip), Arrow/Parquet (one row per step, zstd), Arrow IPC (lz4) and
zarr v3 (one group per episode, zstd). What is timed: episodes -> files, and files -> the same
numpy arrays again, a whole episode at a time (what the streaming loader needs).

    .venv/bin/python bench/shard_formats.py data/train --bags 20 \
        --out bench/results/shard_formats-cpu2.json
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

FIELDS = ("stamps_s", "images_thw3", "poses_t3", "twists_t2", "commands_t2", "contacts_t")


def episodes_arrays(bags: list[Path]) -> list[dict[str, np.ndarray]]:
    from world_model_ros.core.data.dataset import load_episodes

    episodes, _ = load_episodes(bags, image_size=64)
    return [{name: np.asarray(getattr(e, name)) for name in FIELDS} for e in episodes]


def write_wds(episodes, folder: Path, compress: bool) -> list[Path]:
    import webdataset as wds

    path = folder / ("shard.tar.gz" if compress else "shard.tar")
    with wds.TarWriter(str(path), compress=compress) as sink:
        for index, arrays in enumerate(episodes):
            sink.write({"__key__": f"e{index:05d}", **{f"{k}.npy": v for k, v in arrays.items()}})
    return [path]


def read_wds(paths: list[Path]) -> int:
    import gzip

    from webdataset.tariterators import group_by_keys, tar_file_iterator

    samples = 0
    for path in paths:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
        files = (dict(f, __url__=str(path)) for f in tar_file_iterator(io.BytesIO(raw)))
        for record in group_by_keys(files):
            arrays = {
                k[:-4]: np.load(io.BytesIO(v)) for k, v in record.items() if k.endswith(".npy")
            }
            samples += len(arrays["stamps_s"])
    return samples


def _table(arrays):
    import pyarrow as pa

    n = len(arrays["stamps_s"])
    columns = {}
    for name, value in arrays.items():
        flat = np.ascontiguousarray(value).reshape(n, -1) if value.ndim > 1 else value
        if value.dtype == np.uint8:
            columns[name] = pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(flat.shape[1]), n, [None, pa.py_buffer(flat.tobytes())]
            )
        elif flat.ndim == 2:
            columns[name] = pa.FixedSizeListArray.from_arrays(
                pa.array(flat.reshape(-1)), flat.shape[1]
            )
        else:
            columns[name] = pa.array(flat)
    return pa.table(columns)


def write_parquet(episodes, folder: Path) -> list[Path]:
    import pyarrow.parquet as pq

    path = folder / "shard.parquet"
    with pq.ParquetWriter(path, _table(episodes[0]).schema, compression="zstd") as sink:
        for arrays in episodes:
            sink.write_table(_table(arrays))  # one row group per episode
    return [path]


def read_parquet(paths: list[Path]) -> int:
    import pyarrow.parquet as pq

    samples = 0
    for path in paths:
        source = pq.ParquetFile(path)
        for group in range(source.num_row_groups):
            table = source.read_row_group(group)
            images = np.frombuffer(
                table.column("images_thw3").combine_chunks().buffers()[1], np.uint8
            )
            poses = table.column("poses_t3").combine_chunks().flatten().to_numpy()
            samples += len(images) // (64 * 64 * 3) if len(poses) else 0
    return samples


def write_ipc(episodes, folder: Path) -> list[Path]:
    import pyarrow as pa

    path = folder / "shard.arrow"
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with pa.ipc.new_file(path, _table(episodes[0]).schema, options=options) as sink:
        for arrays in episodes:
            sink.write_table(_table(arrays))
    return [path]


def read_ipc(paths: list[Path]) -> int:
    import pyarrow as pa

    samples = 0
    for path in paths:
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_file(source)
            for index in range(reader.num_record_batches):
                batch = reader.get_batch(index)
                images = np.frombuffer(batch.column("images_thw3").buffers()[1], np.uint8).copy()
                samples += len(images) // (64 * 64 * 3)
    return samples


def write_zarr(episodes, folder: Path) -> list[Path]:
    import zarr

    root = zarr.open_group(str(folder / "store.zarr"), mode="w")
    for index, arrays in enumerate(episodes):
        group = root.create_group(f"e{index:05d}")
        for name, value in arrays.items():
            group.create_array(name, data=value, chunks=value.shape)
    return [folder / "store.zarr"]


def read_zarr(paths: list[Path]) -> int:
    import zarr

    samples = 0
    for path in paths:
        root = zarr.open_group(str(path), mode="r")
        for _, group in root.groups():
            arrays = {name: group[name][...] for name in FIELDS}
            samples += len(arrays["stamps_s"])
    return samples


def size_of(paths: list[Path]) -> int:
    return sum(
        p.stat().st_size
        if p.is_file()
        else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        for p in paths
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="folder of recorded bags")
    parser.add_argument("--bags", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from world_model_ros.core.data.bag_format import find_bags

    episodes = episodes_arrays(find_bags(args.data)[: args.bags])
    samples = sum(len(e["stamps_s"]) for e in episodes)
    raw_bytes = sum(v.nbytes for e in episodes for v in e.values())
    candidates = {
        "webdataset tar (npy)": (lambda f: write_wds(episodes, f, False), read_wds),
        "webdataset tar.gz (npy)": (lambda f: write_wds(episodes, f, True), read_wds),
        "parquet (zstd)": (lambda f: write_parquet(episodes, f), read_parquet),
        "arrow ipc (lz4)": (lambda f: write_ipc(episodes, f), read_ipc),
        "zarr v3 (zstd)": (lambda f: write_zarr(episodes, f), read_zarr),
    }
    results = {}
    for name, (write, read) in candidates.items():
        folder = Path(tempfile.mkdtemp(prefix="shardfmt-"))
        started = time.perf_counter()
        paths = write(folder)
        write_s = time.perf_counter() - started
        read_s = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            read(paths)
            read_s.append(time.perf_counter() - started)
        results[name] = {
            "write_samples_per_s": round(samples / write_s),
            "read_samples_per_s (warm page cache, best)": round(samples / min(read_s)),
            "bytes_per_sample": round(size_of(paths) / samples),
            "files": sum(1 for p in paths for _ in ([p] if p.is_file() else p.rglob("*"))),
        }
        print(f"{name:26s} {results[name]}")
        shutil.rmtree(folder)
    from machine import machine_description

    report = {
        "machine": machine_description(),
        "episodes": len(episodes),
        "samples": samples,
        "raw_bytes_per_sample": round(raw_bytes / samples),
        "results": results,
    }
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
