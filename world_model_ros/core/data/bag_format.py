"""What the loader expects of a bag and what the recorder writes into one: which topics hold
what (:class:`BagTopics`), the keys of the rosbag2 metadata's ``custom_data``, the arena map's
JSON form, and where bags are found among the paths a user gives.

Apart from the loader (dataset.py) because the writing side shares it: the recorder
(sim/recorder.py) writes the same keys and arena JSON the loader reads, and the CLI finds bags
before it loads any. Plain Python and YAML; no rosbags, no rclpy.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from .episodes import ArenaMap, Obstacle

# Keys of the bag metadata (rosbag2 metadata.yaml custom_data) written by the recorder.
META_KEYS = {
    "format": "world_model_ros.format",
    "layout_seed": "world_model_ros.layout_seed",
    "arena": "world_model_ros.arena",
    "colours": "world_model_ros.obstacle_colours",
    "episodes": "world_model_ros.episodes",
    "sim_config": "world_model_ros.sim_config",
    "recorder": "world_model_ros.recorder",
    "robot": "world_model_ros.robot",
}


@dataclass(frozen=True)
class BagTopics:
    """Which topics hold what. Names match with or without the leading '/'.

    ``compressed_image`` is used instead of ``image`` when set and present in the bag.
    ``command_stamped``: None takes Twist or TwistStamped from the bag's type; True/False
    insist on one (a bag with the other is reported and skipped).
    ``contact``: a std_msgs/Bool ground-truth topic (simulator bags); missing is fine.
    ``camera_info``: sensor_msgs/CameraInfo (the checkpoint records the camera); optional.
    ``bumper``: a bumper topic (std_msgs/Bool, or any type whose ``bumper_field`` is truthy
    when pressed); its flags land in ``Episode.metadata["bumper_t"]`` (core/data/labels.py).
    """

    image: str = "camera/image_raw"
    compressed_image: str | None = None
    odom: str = "odom"
    command: str = "cmd_vel"
    command_stamped: bool | None = None
    contact: str | None = "ground_truth/contact"
    camera_info: str | None = "camera/camera_info"
    bumper: str | None = None
    bumper_field: str = "data"


def arena_to_json(arena: ArenaMap) -> str:
    """ArenaMap -> compact JSON (what the recorder stores in a bag's metadata)."""
    return json.dumps(asdict(arena), separators=(",", ":"))


def arena_from_json(text: str) -> ArenaMap:
    """JSON from :func:`arena_to_json` -> ArenaMap; raises ValueError naming the problem."""
    try:
        raw = json.loads(text)
        obstacles = [
            Obstacle(
                str(o["kind"]),
                float(o["x"]),
                float(o["y"]),
                float(o["yaw"]),
                float(o["hx"]),
                float(o["hy"]),
            )
            for o in raw["obstacles"]
        ]
        seed = raw.get("layout_seed")
        return ArenaMap(
            float(raw["half_size_m"]),
            obstacles,
            float(raw["robot_radius_m"]),
            None if seed is None else int(seed),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"not an arena map JSON ({type(error).__name__}: {error})") from error


def read_custom_data(bag_path: Path) -> dict[str, str]:
    """A rosbag2 directory's ``custom_data`` from metadata.yaml ({} when absent or unreadable)."""
    import yaml

    try:
        info = yaml.safe_load((Path(bag_path) / "metadata.yaml").read_text())[
            "rosbag2_bagfile_information"
        ]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return {}
    custom = info.get("custom_data") or {}
    return {str(k): str(v) for k, v in custom.items()} if isinstance(custom, dict) else {}


def find_bags(paths: Path | str | Iterable[Path | str]) -> list[Path]:
    """Bag paths from bags, storage files (.mcap/.db3) or folders holding bags (searched,
    sorted). In a folder, a bag is a folder with metadata.yaml, or an .mcap file outside any
    such folder (MCAP files carry their own index: tools that write bare ones are common).
    Symbolic links are followed (bags linked in from another disk), each folder once."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found: list[Path] = []
    for path in map(Path, paths):
        if (path / "metadata.yaml").is_file() or path.suffix in {".mcap", ".db3"}:
            found.append(path)
        elif path.is_dir():
            found.extend(_bags_under(path))
        else:
            found.append(path)  # does not exist: reported when opened
    return found


def _bags_under(root: Path) -> list[Path]:
    bags: list[Path] = []
    seen: set[str] = set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link back up the tree
            subfolders[:] = []
            continue
        seen.add(real)
        if "metadata.yaml" in files:
            bags.append(Path(folder))
            subfolders[:] = []  # a bag's own files are not more bags
            continue
        bags.extend(Path(folder) / f for f in files if f.endswith(".mcap"))
        subfolders.sort()
    return sorted(bags)
