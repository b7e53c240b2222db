"""Episodes <-> Parquet shards: the on-disk form of a preprocessed dataset (``dataset build``).

Why Parquet: bench/shard_formats.py wrote and read the same recorded episodes as WebDataset tar
shards (plain and gzip), Parquet (zstd), Arrow IPC (lz4) and zarr; Parquet read 1.8x as fast as
plain tar shards (3x gzip'd tar) at a eleventh of plain tar's size, one file per shard (zarr: one
per chunk), with row groups read one at a time (docs/training_at_scale.md has the figures).

Schema, generic over :class:`~world_model_ros.core.data.episodes.Episode` so a field added to
Episode flows through without a change here:

* one **row per step**, one **row group per record** (an episode, or a segment of a long one);
* every ndarray field whose first dimension is the episode's length is a **per-step column**
  named after the field, in its own dtype (extra dimensions flattened into a fixed-size list;
  the per-step shape and dtype are in the column's metadata), so it round-trips exactly;
* every other field (dt_s, source, metadata, the arena map, small arrays, dataclasses of the
  package) goes into the ``__record__`` column of the group's first row as tagged JSON;
  a field that is None is listed there and has no column.

A shard that cannot be read (missing, truncated, SHA-256 not the manifest's, not Parquet) is a
:class:`ShardError` whose one-line message starts with the file's path.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib
import io
import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .episodes import Episode

RECORD_COLUMN = "__record__"
IMAGE_FIELD = "images_thw3"
META_SHAPE, META_DTYPE = b"wmr.step_shape", b"wmr.dtype"


class ShardError(ValueError):
    """A shard or manifest that cannot be used; the message names the file and the problem."""

    def __init__(self, path: Path | str, detail: str):
        super().__init__(f"{path}: {detail}")
        self.path = Path(path)


# -- metadata values <-> JSON ---------------------------------------------------------------
def to_json_value(value: Any, where: str) -> Any:
    """A field value -> JSON-able form with tags for what JSON cannot say (tuples, arrays,
    bytes, the package's dataclasses). Raises TypeError naming ``where`` for anything else."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError(f"{where}: object arrays cannot be stored")
        return {
            "__ndarray__": base64.b64encode(np.ascontiguousarray(value).tobytes()).decode(),
            "dtype": value.dtype.str,
            "shape": list(value.shape),
        }
    if isinstance(value, Path):
        return {"__path__": str(value)}
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode()}
    if isinstance(value, tuple):
        return {"__tuple__": [to_json_value(v, where) for v in value]}
    if isinstance(value, list):
        return [to_json_value(v, where) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"{where}: dict keys must be strings")
        items = {k: to_json_value(v, f"{where}.{k}") for k, v in value.items()}
        return {"__dict__": items} if any(k.startswith("__") for k in value) else items
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        return {
            "__dataclass__": f"{cls.__module__}:{cls.__qualname__}",
            "fields": {
                f.name: to_json_value(getattr(value, f.name), f"{where}.{f.name}")
                for f in dataclasses.fields(value)
                if f.init
            },
        }
    raise TypeError(f"{where}: cannot store a {type(value).__name__} in a shard")


def from_json_value(value: Any) -> Any:
    """Inverse of :func:`to_json_value`. Dataclasses are rebuilt only from world_model_ros
    modules (a shard never names code to import from elsewhere)."""
    if isinstance(value, list):
        return [from_json_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__ndarray__" in value:
        raw = base64.b64decode(value["__ndarray__"])
        return np.frombuffer(raw, dtype=np.dtype(value["dtype"])).reshape(value["shape"]).copy()
    if "__path__" in value:
        return Path(value["__path__"])
    if "__bytes__" in value:
        return base64.b64decode(value["__bytes__"])
    if "__tuple__" in value:
        return tuple(from_json_value(v) for v in value["__tuple__"])
    if "__dict__" in value:
        return {k: from_json_value(v) for k, v in value["__dict__"].items()}
    if "__dataclass__" in value:
        module_name, _, qualname = str(value["__dataclass__"]).partition(":")
        if not module_name.startswith("world_model_ros."):
            raise ValueError(f"refusing to rebuild {module_name}:{qualname} (not this package)")
        cls: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        return cls(**{k: from_json_value(v) for k, v in value["fields"].items()})
    return {k: from_json_value(v) for k, v in value.items()}


# -- episodes <-> tables --------------------------------------------------------------------
def per_step_fields(episode: Episode) -> list[str]:
    """Names of the Episode's per-step arrays: ndarray fields whose first dimension is its
    length (images, poses, twists, commands, labels, whatever a newer Episode adds)."""
    length = len(episode)
    return [
        f.name
        for f in dataclasses.fields(episode)
        if isinstance(getattr(episode, f.name), np.ndarray)
        and getattr(episode, f.name).ndim >= 1
        and getattr(episode, f.name).shape[0] == length
    ]


def slice_episode(episode: Episode, start: int, stop: int, **metadata: Any) -> Episode:
    """Steps [start, stop) of an episode (per-step arrays sliced, everything else shared);
    ``metadata`` entries are added to a copy of its metadata."""
    steps = set(per_step_fields(episode))
    changes = {name: getattr(episode, name)[start:stop] for name in steps}
    if metadata:
        changes["metadata"] = {**episode.metadata, **metadata}
    return dataclasses.replace(episode, **changes)


def episode_to_table(episode: Episode, record: dict[str, Any]):
    """One record (an episode or a segment) -> a pyarrow Table, one row per step. ``record``
    (the manifest's entry) is stored in the table with the Episode's non-array fields."""
    import pyarrow as pa

    steps = per_step_fields(episode)
    length = len(episode)
    columns, fields_meta, nones = {}, {}, []
    record = {**record, "values": {}}
    for f in dataclasses.fields(episode):
        value = getattr(episode, f.name)
        if f.name in steps:
            flat = np.ascontiguousarray(value).reshape(length, -1)
            child = pa.array(flat.reshape(-1))
            array = (
                pa.FixedSizeListArray.from_arrays(child, flat.shape[1])
                if value.ndim > 1
                else child
            )
            columns[f.name] = array
            fields_meta[f.name] = {
                META_SHAPE: json.dumps(list(value.shape[1:])).encode(),
                META_DTYPE: value.dtype.str.encode(),
            }
        elif value is None:
            nones.append(f.name)
        else:
            record["values"][f.name] = to_json_value(value, f"Episode.{f.name}")
    record["none"] = nones
    text = json.dumps(record, separators=(",", ":"))
    columns[RECORD_COLUMN] = pa.array([text] + [None] * (length - 1), pa.string())
    schema = pa.schema(
        [
            pa.field(name, array.type, metadata=fields_meta.get(name))
            for name, array in columns.items()
        ]
    )
    return pa.Table.from_arrays(list(columns.values()), schema=schema)


def table_to_episode(
    table, where: str, fill: set[str] | frozenset = frozenset()
) -> tuple[Episode, dict[str, Any]]:
    """A record's table -> (Episode, the record's JSON header). Raises ShardError. Fields in
    ``fill`` were not read and become 1x1x3 black frames."""
    try:
        record = json.loads(table.column(RECORD_COLUMN)[0].as_py())
        kwargs: dict[str, Any] = {name: from_json_value(v) for name, v in record["values"].items()}
        kwargs.update({name: None for name in record["none"]})
        kwargs.update({name: np.zeros((len(table), 1, 1, 3), np.uint8) for name in fill})
        for field in table.schema:
            if field.name == RECORD_COLUMN:
                continue
            shape = json.loads(field.metadata[META_SHAPE])
            dtype = np.dtype(field.metadata[META_DTYPE].decode())
            column = table.column(field.name).combine_chunks()
            flat = column.flatten() if shape else column
            values = flat.to_numpy(zero_copy_only=False).astype(dtype, copy=False)
            kwargs[field.name] = values.reshape(len(table), *shape)
    except (KeyError, ValueError, TypeError, IndexError) as error:
        raise ShardError(
            where, f"not a record of this format ({type(error).__name__}: {error})"
        ) from None
    known = {f.name for f in dataclasses.fields(Episode)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ShardError(
            where,
            f"fields {', '.join(unknown)} are not in this version's Episode (shard written by a "
            "newer world_model_ros)",
        )
    try:
        return Episode(**kwargs), record
    except TypeError as error:
        raise ShardError(
            where, f"cannot rebuild an Episode ({error}); rebuild the dataset"
        ) from None


# -- shard files ----------------------------------------------------------------------------
def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ShardWriter:
    """Writes records into ``<folder>/<stem>-NNN.parquet`` files of at most about
    ``max_bytes`` each (a new file also starts when the fields change). ``close()`` returns one
    dict per file: name, bytes, sha256, records, samples."""

    def __init__(self, folder: Path, stem: str, max_bytes: int):
        self.folder, self.stem, self.max_bytes = Path(folder), stem, max_bytes
        self.folder.mkdir(parents=True, exist_ok=True)
        self.files: list[dict[str, Any]] = []
        self._sink: Any = None  # a pyarrow.parquet.ParquetWriter while a file is open
        self._schema = None

    def write(self, episode: Episode, record: dict[str, Any]) -> dict[str, Any]:
        """Write one record; returns the record with ``shard`` and ``row_group`` filled in."""
        import pyarrow.parquet as pq

        table = episode_to_table(episode, record)
        if self._sink is not None and (
            not table.schema.equals(self._schema, check_metadata=True)
            or (self.folder / self.files[-1]["name"]).stat().st_size >= self.max_bytes
        ):
            self._finish()
        if self._sink is None:
            name = f"{self.stem}-{len(self.files):03d}.parquet"
            self._sink = pq.ParquetWriter(
                self.folder / name, table.schema, compression="zstd", write_page_checksum=True
            )
            self._schema = table.schema
            self.files.append({"name": name, "records": 0, "samples": 0})
        self._sink.write_table(table, row_group_size=max(1, len(table)))
        entry = self.files[-1]
        record.update(shard=entry["name"], row_group=entry["records"])
        entry["records"] += 1
        entry["samples"] += len(table)
        return record

    def _finish(self) -> None:
        self._sink.close()
        self._sink = None
        entry = self.files[-1]
        path = self.folder / entry["name"]
        entry.update(bytes=path.stat().st_size, sha256=sha256_file(path))

    def close(self) -> list[dict[str, Any]]:
        if self._sink is not None:
            self._finish()
        return self.files


class ShardFile:
    """One shard read into memory once, its size and SHA-256 checked against the manifest; its
    records are then read by row group. Every problem is a ShardError naming the file."""

    def __init__(self, path: Path, expected_bytes: int | None, expected_sha256: str | None):
        import pyarrow.parquet as pq

        self.path = Path(path)
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            raise ShardError(self.path, "missing (the manifest lists it)") from None
        except OSError as error:
            raise ShardError(self.path, f"unreadable ({error.strerror or error})") from None
        if expected_bytes is not None and len(data) != expected_bytes:
            raise ShardError(
                self.path, f"damaged: {len(data)} bytes, the manifest says {expected_bytes}"
            )
        if expected_sha256 is not None and hashlib.sha256(data).hexdigest() != expected_sha256:
            raise ShardError(self.path, "damaged: SHA-256 differs from the manifest's")
        try:
            self._file = pq.ParquetFile(io.BytesIO(data))
        except Exception as error:  # pyarrow raises several types for a bad footer
            raise ShardError(self.path, f"not a Parquet file ({error})") from None

    @property
    def num_records(self) -> int:
        return self._file.num_row_groups

    def read(self, row_group: int, frames: bool = True) -> tuple[Episode, dict[str, Any]]:
        """Record ``row_group``; ``frames=False`` skips decoding the camera frames (they come
        back as 1x1 black pixels: for statistics over everything but the images)."""
        where = f"{self.path} (record {row_group})"
        if not 0 <= row_group < self.num_records:
            raise ShardError(self.path, f"has no record {row_group} ({self.num_records} records)")
        columns = None
        if not frames:
            columns = [n for n in self._file.schema_arrow.names if n != IMAGE_FIELD]
        try:
            table = self._file.read_row_group(row_group, columns=columns)
        except Exception as error:  # decompression / page checksum failures
            raise ShardError(where, f"damaged ({error})") from None
        episode, record = table_to_episode(table, where, fill=set() if frames else {IMAGE_FIELD})
        return episode, record

    def records(self, frames: bool = True) -> Iterator[tuple[Episode, dict[str, Any]]]:
        for row_group in range(self.num_records):
            yield self.read(row_group, frames)
