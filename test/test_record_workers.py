"""`record --workers N`: layouts spread over processes give the same bags as one process."""

from __future__ import annotations

from world_model_ros.cli.main import main


def test_parallel_recording_writes_the_same_bags(tmp_path, capsys):
    common = ["--layouts", "3:5", "--episodes", "1", "--episode-seconds", "2", "--quiet"]
    assert main(["record", "-o", str(tmp_path / "one"), *common, "--workers", "1"]) == 0
    assert main(["record", "-o", str(tmp_path / "two"), *common, "--workers", "2"]) == 0
    assert "recorded 2 bag(s)" in capsys.readouterr().out
    for seed in (3, 4):
        name = f"layout_{seed:04d}"
        one = (tmp_path / "one" / name / f"{name}.mcap").read_bytes()
        two = (tmp_path / "two" / name / f"{name}.mcap").read_bytes()
        assert one == two
    assert main(["record", "-o", str(tmp_path / "x"), *common, "--workers", "0"]) == 2
    assert "--workers must be >= 1" in capsys.readouterr().err
