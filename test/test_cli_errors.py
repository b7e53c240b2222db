"""Issue 15 finding 7: every CLI mistake is one line naming what is wrong, with a non-zero exit.

Seen before the fix: ``record --output`` on a read-only file system printed a traceback,
``record --output`` onto an existing bag silently nested a new bag inside it, ``train`` on a
folder with no bags said "see the problems above" with nothing above, and a training config of
``steps: many`` failed with "'<' not supported between instances of 'str' and 'int'". Each is
run as a user runs it (the console script in a subprocess), except the read-only file system,
which cannot be mounted here: that one calls ``main`` in this process with ``mkdir`` failing
as a read-only mount fails (EROFS).
"""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from world_model_ros.cli.main import main

CLI = str(Path(sys.executable).parent / "world-model-ros")
REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=timeout_s, cwd=REPO
    )


def one_line_error(result: subprocess.CompletedProcess, *names: str) -> str:
    """The run failed with exactly one line on stderr, no traceback, naming every ``names``."""
    assert result.returncode != 0, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


def test_record_onto_an_existing_bag_is_refused(tmp_path):
    bag = tmp_path / "my_bag"
    bag.mkdir()
    (bag / "metadata.yaml").write_text("rosbag2_bagfile_information: {}\n")
    (bag / "my_bag_0.mcap").write_bytes(b"\x89MCAP0\r\n")
    result = run_cli("record", "--output", str(bag), "--episodes", "1", "--episode-seconds", "1")
    line = one_line_error(result, str(bag), "--output", "--overwrite")
    assert "rosbag2 bag" in line
    assert sorted(p.name for p in bag.iterdir()) == ["metadata.yaml", "my_bag_0.mcap"]


def test_record_output_that_cannot_be_a_folder_is_one_line(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result = run_cli("record", "--output", str(blocker / "bags"), "--episodes", "1")
    one_line_error(result, str(blocker / "bags"), "record")


def test_record_on_a_read_only_file_system_is_one_line(tmp_path, monkeypatch, capsys):
    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    code = main(["record", "--output", str(tmp_path / "ro" / "bags"), "--episodes", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert str(tmp_path / "ro" / "bags") in err and "Read-only file system" in err


def test_train_on_a_folder_without_bags_says_so(tmp_path):
    (tmp_path / "notes.txt").write_text("no bags here")
    result = run_cli("train", str(tmp_path), "--out", str(tmp_path / "run"), "--quiet")
    line = one_line_error(result, str(tmp_path), "no rosbag2 bags")
    assert "see the problems above" not in line


@pytest.mark.parametrize(
    "change, names",
    [
        ({"steps": "many"}, ("'steps'", "integer", "many")),
        ({"loss": {"footprnt": 2.0}}, ("'loss.footprnt'", "loss.footprint")),
        ({"model": {"latent_dim": [96]}}, ("'model.latent_dim'",)),
        ({"learning_rte": 0.001}, ("'learning_rte'", "learning_rate")),
    ],
)
def test_train_config_mistakes_name_the_key(tmp_path, change, names):
    config = yaml.safe_load((REPO / "config" / "train.yaml").read_text())
    for key, value in change.items():
        if isinstance(value, dict):
            config[key].update(value)
        else:
            config[key] = value
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    (tmp_path / "bags").mkdir()
    result = run_cli("train", str(tmp_path / "bags"), "--config", str(path), "--quiet")
    one_line_error(result, str(path), *names)


@pytest.mark.parametrize(
    "value, names",
    [("many", ("'num_samples'", "many")), (None, ("unknown setting 'num_sample'",))],
)
def test_demo_planner_yaml_mistakes_name_the_key(tmp_path, value, names):
    config = yaml.safe_load((REPO / "config" / "mpc_planner.yaml").read_text())
    params = next(iter(config.values()))["ros__parameters"]
    if value is None:
        params["num_sample"] = 64
    else:
        params["num_samples"] = value
    path = tmp_path / "planner.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_cli("demo", "--config", str(path), "--episodes", "1", "--no-bag")
    one_line_error(result, str(path), *names)
