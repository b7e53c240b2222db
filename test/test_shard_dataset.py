"""Sharded datasets: bag -> shards -> the same episodes and windows as the bag, appending bags,
the streamed windows of an epoch, resuming a stream, damaged and missing shards by name."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
from collections import Counter
from functools import partial

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO

from world_model_ros.cli.main import main
from world_model_ros.core.data.dataset import load_episodes
from world_model_ros.core.data.manifest import ShardDataset, record_windows
from world_model_ros.core.data.shards import ShardError, from_json_value, to_json_value
from world_model_ros.core.data.streaming import StreamingWindows
from world_model_ros.core.data.windows import WindowSet, split_by_episode
from world_model_ros.core.training.sampling import window_sampling_weights

HORIZON, SIZE = 20, 32


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    """Three tiny simulator bags (layouts 5-7, one 7 s episode each)."""
    root = tmp_path_factory.mktemp("fleet_bags")
    args = ["--episodes", "1", "--episode-seconds", "7", "--image-size", "32", "--quiet"]
    assert main(["record", "--output", str(root), "--layouts", "5:8", *args]) == 0
    return sorted(p for p in root.iterdir() if p.is_dir())


def build(bags, out, *extra) -> int:
    return main(["dataset", "build", *map(str, bags), "--out", str(out), "--quiet", *extra])


@pytest.fixture(scope="module")
def segmented(bags, tmp_path_factory):
    """The three bags in a dataset whose episodes are cut into overlapping segments."""
    out = tmp_path_factory.mktemp("ds") / "segmented"
    extra = ["--image-size", str(SIZE), "--segment-steps", "30", "--overlap-steps", "20"]
    assert build(bags, out, *extra, "--workers", "2", "--robot", "rover_1") == 0
    return out


def fingerprints(batch) -> list[bytes]:
    """One digest per window over everything a window holds."""
    out = []
    for i in range(len(batch.start_b)):
        digest = hashlib.sha256()
        for value in (
            batch.images_bss3,
            batch.start_pose_b3,
            batch.actions_bh2,
            batch.poses_bh3,
            batch.twists_bh2,
            batch.contacts_bh,
            batch.future_images_bkss3,
        ):
            digest.update(value[i].numpy().tobytes())
        out.append(digest.digest())
    return out


def direct_windows(bags) -> Counter:
    episodes, _ = load_episodes(bags, image_size=SIZE)
    windows = WindowSet(episodes, SIZE, HORIZON)
    return Counter(fingerprints(windows.gather(torch.arange(len(windows)), (5, 20))))


def assert_same_episodes(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        for field in dataclasses.fields(x):
            u, v = getattr(x, field.name), getattr(y, field.name)
            if isinstance(u, np.ndarray):
                assert u.dtype == v.dtype and np.array_equal(u, v), field.name
            else:
                assert u == v, field.name


def test_round_trip_gives_the_bags_episodes_and_windows(bags, segmented):
    dataset = ShardDataset(segmented)
    direct, _ = load_episodes(bags, image_size=SIZE)
    assert_same_episodes(dataset.load_episodes(), direct)  # segments joined again
    assert max(r["segments"] for r in dataset.records) > 1
    first = dataset.records[0]
    assert first["robot"] == "rover_1" and first["layout_seed"] == 5
    assert first["label_sources"]["contacts_t"] == "contact topic ground_truth/contact"
    assert dataset.bags[0]["report"].startswith("1 bag(s), 1 episode(s)")
    # Same split as on the loaded episodes.
    train, val = dataset.split(0.34, seed=3)
    d_train, d_val = split_by_episode(direct, 0.34, seed=3)
    assert {r["source"] for r in val} == {e.source for e in d_val}
    assert {r["source"] for r in train} == {e.source for e in d_train}


@pytest.mark.parametrize("world", [1, 2])
def test_an_epoch_streams_every_window_once_per_weight(bags, segmented, world):
    dataset = ShardDataset(segmented)
    weights = partial(window_sampling_weights, rest_start_weight=3.0)
    seen: Counter = Counter()
    for rank in range(world):
        stream = StreamingWindows(
            dataset,
            dataset.records,
            SIZE,
            HORIZON,
            batch_size=1,
            consistency_steps=(5, 20),
            sampling_weights=weights,
            seed=1,
            rank=rank,
            world_size=world,
            pool_frames=1,
            lifetime=1,
        )
        epoch = stream.epoch_records(0)
        draws = 0  # each owned window, times its weight
        for record, part in zip(epoch, dataset.read_records(epoch), strict=True):
            owned = record_windows(record, HORIZON)
            draws += int(weights(WindowSet([part], SIZE, HORIZON))[:owned].sum())
        for _ in range(draws):  # with lifetime 1 and batch 1 these are epoch 0's draws, no more
            seen.update(fingerprints(stream.next_batch()))
    episodes, _ = load_episodes(bags, image_size=SIZE)
    windows = WindowSet(episodes, SIZE, HORIZON)
    expected: Counter = Counter()
    w = window_sampling_weights(windows, 3.0)
    for digest, weight in zip(
        fingerprints(windows.gather(torch.arange(len(windows)), (5, 20))), w, strict=True
    ):
        expected[digest] += int(weight)
    assert seen == expected


def test_ranks_read_disjoint_shards(segmented):
    dataset = ShardDataset(segmented)
    shards = [
        {
            r["shard"]
            for r in StreamingWindows(
                dataset, dataset.records, SIZE, HORIZON, 4, rank=rank, world_size=2
            ).epoch_records(0)
        }
        for rank in (0, 1)
    ]
    assert shards[0] and shards[1] and not shards[0] & shards[1]
    assert shards[0] | shards[1] == set(dataset.shards)
    with pytest.raises(ValueError, match="3 training shard"):
        StreamingWindows(dataset, dataset.records, SIZE, HORIZON, 4, rank=0, world_size=4)


def test_a_stream_resumes_exactly_from_its_state(segmented, tmp_path):
    dataset = ShardDataset(segmented)

    def stream():
        return StreamingWindows(
            dataset,
            dataset.records,
            SIZE,
            HORIZON,
            batch_size=8,
            consistency_steps=(5,),
            seed=4,
            pool_frames=60,
        )

    first = stream()
    for _ in range(7):
        first.next_batch()
    torch.save(first.state_dict(), tmp_path / "state.pt")
    expected = [fingerprints(first.next_batch()) for _ in range(9)]
    second = stream()
    second.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert [fingerprints(second.next_batch()) for _ in range(9)] == expected


def test_appending_bags_adds_shards_and_keeps_the_old_ones(bags, tmp_path, capsys):
    out = tmp_path / "ds"
    assert build(bags[:1], out, "--image-size", str(SIZE)) == 0
    before = json.loads((out / "manifest.json").read_text())
    first_shard = out / "shards" / before["shards"][0]["name"]
    stat = first_shard.stat()
    assert build(bags, out, "--image-size", str(SIZE), "--workers", "1") == 0
    assert "1 already there" in capsys.readouterr().out
    after = ShardDataset(out)
    assert len(after.bags) == 3 and after.shards[first_shard.name] == before["shards"][0]
    assert first_shard.stat().st_mtime_ns == stat.st_mtime_ns
    assert_same_episodes(after.load_episodes(), load_episodes(bags, image_size=SIZE)[0])
    # Other settings than the folder's are refused, naming both.
    assert build(bags[:1], out, "--image-size", "48") == 2
    assert "cannot add bags decoded with" in capsys.readouterr().err


def test_damaged_and_missing_shards_are_named(bags, tmp_path, capsys):
    out = tmp_path / "ds"
    assert build(bags, out, "--image-size", str(SIZE), "--workers", "1") == 0
    shard = sorted((out / "shards").iterdir())[1]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["dataset", "verify", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(shard) in err[0] and "SHA-256" in err[0]
    common = ["--steps", "2", "--batch-size", "4", "--threads", "1", "--quiet"]
    assert main(["train", str(out), "--out", str(tmp_path / "run"), *common]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(shard) in err[0], err
    shard.unlink()
    assert main(["train", str(out), "--out", str(tmp_path / "run"), *common]) == 2
    assert f"{shard}: missing" in capsys.readouterr().err
    with pytest.raises(ShardError, match="manifest.json: missing"):
        ShardDataset(tmp_path)


def test_metadata_values_round_trip_through_json():
    from world_model_ros.core.data.episodes import ArenaMap, Obstacle

    value = {
        "arena": ArenaMap(2.0, [Obstacle("box", 1, 2, 0.1, 0.2, 0.3)], 0.12, 7),
        "k_33": np.eye(3, dtype=np.float32),
        "pair": (1, "a"),
        "__odd": b"\x00\x01",
    }
    back = from_json_value(json.loads(json.dumps(to_json_value(value, "metadata"))))
    assert back["arena"] == value["arena"] and back["pair"] == (1, "a")
    assert back["k_33"].dtype == np.float32 and np.array_equal(back["k_33"], np.eye(3))
    assert back["__odd"] == b"\x00\x01"
    with pytest.raises(TypeError, match="metadata.f: cannot store a builtin"):
        to_json_value({"f": print}, "metadata")
    with pytest.raises(ValueError, match="not this package"):
        from_json_value({"__dataclass__": "os:system", "fields": {}})


def test_a_dataset_without_contact_labels_does_not_train_a_collision_head(tmp_path, capsys):
    bags = tmp_path / "bags"
    assert main(["record", "--robot", "small", "--output", str(bags), "--no-ground-truth",
                 "--layouts", "3", "--episodes", "1", "--episode-seconds", "4",
                 "--quiet"]) == 0  # fmt: skip
    assert build([bags / "layout_0003"], tmp_path / "ds", "--image-size", str(SIZE),
                 "--derive-contacts", "never") == 0  # fmt: skip
    capsys.readouterr()
    assert main(["train", str(tmp_path / "ds"), "--out", str(tmp_path / "ckpt"), "--steps", "1",
                 "--quiet"]) == 2  # fmt: skip
    error = capsys.readouterr().err
    assert "no episode has contact labels" in error and "--no-collision-head" in error


def test_a_dataset_keeps_the_laser_scan_input_a_scan_model_trains_on(bags, tmp_path, capsys):
    """`dataset build --scan-sectors N` stores each step's LaserScan input as training from the
    bags builds it; a scan model trains on it, and is refused on a dataset without it or with
    another scan input, with the fix named."""
    from world_model_ros.cli.bag_input import attach_model_scans
    from world_model_ros.core.model.latent_model import LatentModelConfig

    lidar = tmp_path / "lidar_bags"
    assert main(["record", "--robot", "large", "--output", str(lidar), "--layouts", "2",
                 "--episodes", "1", "--episode-seconds", "4", "--image-size", "32",
                 "--quiet"]) == 0  # fmt: skip
    lidar_bags = sorted(p for p in lidar.iterdir() if p.is_dir())
    out = tmp_path / "ds_scan"
    capsys.readouterr()
    assert build(lidar_bags, out, "--image-size", str(SIZE), "--workers", "1", "--robot",
                 "large", "--scan-sectors", "8") == 0  # fmt: skip
    assert "LaserScan input (8 sectors) in 1 of 1 episode(s)" in capsys.readouterr().out
    dataset = ShardDataset(out)
    assert (dataset.settings.scan_sectors, dataset.settings.scan_topic) == (8, "scan")
    stored = dataset.load_episodes(dataset.records)
    direct, _ = load_episodes(lidar_bags, image_size=SIZE)
    model = LatentModelConfig(scan_sectors=8)  # the large robot's LiDAR sits on base_link
    attach_model_scans(direct, argparse.Namespace(scan_topic="scan"), model, log=lambda _: None)
    assert len(stored) == len(direct) == 1 and stored[0].scan_tk is not None
    np.testing.assert_allclose(stored[0].scan_tk, direct[0].scan_tk)
    assert (stored[0].scan_tk[:, -1] == 1).mean() > 0.9  # scans at nearly every step
    stream = StreamingWindows(dataset, dataset.records, SIZE, HORIZON, 4, scan_sectors=8)
    batch = stream.next_batch()
    assert batch.scan_bn is not None and batch.scan_bn.shape == (4, 9)
    rows = torch.tensor(stored[0].scan_tk, dtype=torch.float32)
    assert all(any(torch.equal(row, r) for r in rows) for row in batch.scan_bn)

    config = yaml.safe_load((REPO / "config" / "train.yaml").read_text())
    config["model"].update(image_size=SIZE, scan_sectors=8)
    path = tmp_path / "scan.yaml"
    path.write_text(yaml.safe_dump(config))
    common = ["--steps", "1", "--batch-size", "4", "--threads", "1", "--quiet"]
    assert main(["train", str(out), "--out", str(tmp_path / "run"), "--config", str(path),
                 *common]) == 0  # fmt: skip
    capsys.readouterr()
    config["model"]["scan_sectors"] = 12
    path.write_text(yaml.safe_dump(config))
    assert main(["train", str(out), "--out", str(tmp_path / "run12"), "--config", str(path),
                 *common]) == 2  # fmt: skip
    assert "has 8 sectors" in capsys.readouterr().err
    plain = tmp_path / "ds"
    assert build(bags, plain, "--image-size", str(SIZE), "--workers", "1") == 0
    capsys.readouterr()
    assert main(["train", str(plain), "--out", str(tmp_path / "run0"), "--config", str(path),
                 *common]) == 2  # fmt: skip
    error = capsys.readouterr().err
    assert "built without the LaserScan input" in error and "--scan-sectors 12" in error
