"""Data-parallel training under torchrun (gloo, CPU): identical weights on every rank,
reproducible for a world size, a checkpoint like any other, and resume across world sizes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from world_model_ros.core.model.checkpoint import load_checkpoint
from world_model_ros.core.training.trainer import TRAIN_STATE_NAME

WORKER = Path(__file__).resolve().parent / "ddp_worker.py"


def run(out: Path, ranks: int, *extra: str) -> str:
    launcher = (
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={ranks}",
        ]
        if ranks > 1
        else [sys.executable]
    )
    done = subprocess.run(
        [*launcher, str(WORKER), str(out), *extra], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_two_ranks_end_with_the_same_weights_and_a_plain_checkpoint(tmp_path):
    run(tmp_path / "a", 2)
    rank0, rank1 = weights(tmp_path / "a" / "rank0.pt"), weights(tmp_path / "a" / "rank1.pt")
    assert same(rank0, rank1)
    model, config = load_checkpoint(tmp_path / "a")  # the ordinary format, no DDP prefixes
    assert config["training"]["steps"] in (6, 12)
    state = torch.load(tmp_path / "a" / TRAIN_STATE_NAME, weights_only=True)
    assert state["step"] == 12 and state["world_size"] == 2 and len(state["ranks"]) == 2
    assert same(state["model"], rank0)
    # The ranks sampled different windows (else the second would add nothing).
    assert not torch.equal(state["ranks"][0]["generator"], state["ranks"][1]["generator"])


@pytest.mark.slow
def test_runs_reproduce_and_resume_survives_a_change_of_world_size(tmp_path):
    # Reproducible for a world size.
    run(tmp_path / "r1", 2)
    run(tmp_path / "r2", 2)
    assert same(weights(tmp_path / "r1" / "rank0.pt"), weights(tmp_path / "r2" / "rank0.pt"))
    # Two ranks stop at step 6 (after a validation: every rank's state saved), one resumes.
    run(tmp_path / "a", 2, "--stop-at", "6")
    state = torch.load(tmp_path / "a" / TRAIN_STATE_NAME, weights_only=True)
    assert state["step"] == 6 and state["world_size"] == 2
    log = run(tmp_path / "a", 1, "--resume")
    assert "written by 2 process(es), this run has 1" in log
    state = torch.load(tmp_path / "a" / TRAIN_STATE_NAME, weights_only=True)
    assert state["step"] == 12 and state["world_size"] == 1
    # One process stops at 7, two resume: both ranks continue from its weights, in step.
    run(tmp_path / "b", 1, "--stop-at", "7")
    assert torch.load(tmp_path / "b" / TRAIN_STATE_NAME, weights_only=True)["step"] == 7
    run(tmp_path / "b", 2, "--resume")
    assert same(weights(tmp_path / "b" / "rank0.pt"), weights(tmp_path / "b" / "rank1.pt"))
    assert torch.load(tmp_path / "b" / TRAIN_STATE_NAME, weights_only=True)["step"] == 12


@pytest.mark.slow
def test_torchrun_trains_from_a_dataset_folder_and_eval_takes_the_checkpoint(tmp_path):
    """record -> dataset build -> `torchrun ... train DATASET` (2 ranks, streamed) -> eval."""
    from world_model_ros.cli.main import main
    from world_model_ros.core.model.registry import ModelSpec, load_world_model

    common = ["--episodes", "1", "--episode-seconds", "5", "--quiet"]
    assert main(["record", "-o", str(tmp_path / "bags"), "--layouts", "0:3", *common]) == 0
    assert main(["record", "-o", str(tmp_path / "test"), "--layouts", "1000", *common]) == 0
    assert main(["dataset", "build", str(tmp_path / "bags"), "-o", str(tmp_path / "ds")]) == 0
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node=2",
            "-m",
            "world_model_ros.cli.main",
            "train",
            str(tmp_path / "ds"),
            "--out",
            str(tmp_path / "run"),
            "--steps",
            "4",
            "--batch-size",
            "8",
            "--threads",
            "1",
            "--quiet",
            "--pool-frames",
            "40",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rank 0 of 2 (gloo)" in done.stdout and done.stdout.count("checkpoint in") == 1
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["training"]["data"]["world_size"] == 2
    assert config["training"]["data"]["dataset"] == str(tmp_path / "ds")
    model = load_world_model(ModelSpec(kind="latent", checkpoint=str(tmp_path / "run")))
    assert model is not None  # what world_model_node loads through nodes/model_loading.py
    report = tmp_path / "report"
    evaluate = ["eval", str(tmp_path / "test"), "--checkpoint", str(tmp_path / "run")]
    with torch.enable_grad():  # eval turns autograd off for the whole process; keep it there
        assert main([*evaluate, "--ablation", "none", "--out", str(report)]) == 0
    result = json.loads((report / "eval_report.json").read_text())
    assert "latent (camera)" in result["subsets"]["all"]
