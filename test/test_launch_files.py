"""The launch files agree with each other and with the README, read from their source.

launch and launch_ros are not on PyPI, so the launch files cannot be run here; their syntax
tree says which arguments they declare, which nodes they start and how. A real ROS 2 install
runs them (README: `ros2 launch world_model_ros <file> --show-args`).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import REPO

from world_model_ros.nodes import launch_common

LAUNCH_FILES = sorted((REPO / "launch").glob("*.launch.py"))
COMMON = {"namespace", "use_sim_time", "log_level"}
NODE_KEYWORDS = {"namespace", "remappings", "ros_arguments", "output"}


def calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (getattr(node.func, "id", None) or getattr(node.func, "attr", None)) == name
    ]


def module_env(tree: ast.Module) -> dict:
    """launch_common's names plus the launch file's module-level constants."""
    env = {name: getattr(launch_common, name) for name in dir(launch_common)}
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            if isinstance(target, ast.Name) and target.id.isupper():
                env[target.id] = eval(compile(ast.Expression(statement.value), "", "eval"), env)
    return env


def declared_arguments(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {ast.literal_eval(call.args[0]) for call in calls(tree, "DeclareLaunchArgument")}
    env = module_env(tree)
    for call in calls(tree, "topic_arguments"):
        topics = eval(compile(ast.Expression(call.args[0]), "", "eval"), env)
        names |= set(topics)
    if calls(tree, "common_arguments"):
        names |= set(launch_common.COMMON_ARGUMENTS)
    if calls(tree, "robot_arguments"):
        names |= set(launch_common.ROBOT_ARGUMENTS)
    return names


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_every_launch_file_takes_the_common_arguments_and_topic_remaps(path):
    names = declared_arguments(path)
    assert COMMON <= names, f"{path.name} lacks {COMMON - names}"
    topics = {name for name in names if name.endswith("_topic")}
    assert topics and topics <= set(launch_common.TOPICS)
    for wired in ("camera_topic", "odom_topic", "cmd_vel_topic"):
        assert wired in topics, f"{path.name}: no {wired}"


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_nodes_are_started_the_same_way_everywhere(path):
    source = path.read_text()
    assert "emulate_tty" not in source and "PathJoinSubstitution" not in source
    tree = ast.parse(source)
    nodes = calls(tree, "Node") + calls(tree, "LifecycleNode")
    assert nodes
    for node in nodes:
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        for star in (k for k in node.keywords if k.arg is None):  # **common: the dict(...)
            [unpacked] = [
                a.value
                for a in ast.walk(tree)
                if isinstance(a, ast.Assign) and getattr(a.targets[0], "id", "") == star.value.id
            ]
            keywords |= {k.arg: k.value for k in unpacked.keywords}
        assert NODE_KEYWORDS <= set(keywords), f"{path.name}: {ast.unparse(node)[:200]}"
        assert ast.unparse(keywords["output"]) == "OUTPUT"
        assert "log_level" in ast.unparse(keywords["ros_arguments"])
    # Default paths are plain strings under the installed share (share_file), never
    # substitutions that --show-args prints as their repr.
    for call in calls(tree, "DeclareLaunchArgument"):
        default = next(k.value for k in call.keywords if k.arg == "default_value")
        assert isinstance(default, ast.Constant) or (
            isinstance(default, ast.Call) and getattr(default.func, "id", "") == "share_file"
        ), f"{path.name}: {ast.unparse(call)[:120]}"


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_optional_packages_are_checked_before_any_node_starts(path):
    """Every node from another package is checked by refuse_missing, which comes first."""
    tree = ast.parse(path.read_text())
    [check] = calls(tree, "refuse_missing")
    required = dict(ast.literal_eval(check.args[0]))
    entries = next(
        call.args[0] for call in calls(tree, "LaunchDescription") if call.args
    ).elts  # the launch description's actions, in order
    first_node = min(
        i
        for i, entry in enumerate(entries)
        if isinstance(entry, ast.Call) and getattr(entry.func, "id", "").endswith("Node")
    )
    assert entries.index(check) < first_node
    for node in calls(tree, "Node"):
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        package = keywords.get("package")
        if package is None or ast.literal_eval(package) == "world_model_ros":
            continue
        condition = ast.unparse(keywords["condition"]) if "condition" in keywords else None
        argument = re.search(r"LaunchConfiguration\('(\w+)'\)", condition or "")
        wanted = argument.group(1) if argument else None
        assert (wanted, ast.literal_eval(package)) in required.items(), path.name


def test_demo_planner_uses_the_twin_state():
    tree = ast.parse((REPO / "launch" / "demo.launch.py").read_text())
    [planner] = [
        node
        for node in calls(tree, "Node")
        if any(
            k.arg == "executable" and ast.literal_eval(k.value) == "mpc_planner_node"
            for k in node.keywords
        )
    ]
    parameters = next(k.value for k in planner.keywords if k.arg == "parameters")
    assert "'state_source': 'twin'" in ast.unparse(parameters)


def readme_arguments() -> dict[str, set[str]]:
    """The README's table of launch arguments: file -> argument names."""
    readme = (REPO / "README.md").read_text()
    table = {}
    for line in readme.splitlines():
        match = re.match(r"\|\s*`(\w+\.launch\.py)`\s*\|(.*)\|\s*$", line)
        if match:
            table[match.group(1)] = set(re.findall(r"`(\w+)`", match.group(2)))
    return table


def test_readme_lists_every_argument_of_every_launch_file():
    table = readme_arguments()
    assert set(table) == {path.name for path in LAUNCH_FILES}
    for path in LAUNCH_FILES:
        declared = declared_arguments(path)
        assert table[path.name] == declared, (
            f"{path.name}: README lacks {sorted(declared - table[path.name])}, "
            f"names {sorted(table[path.name] - declared)} it does not declare"
        )


@pytest.mark.parametrize("name", ["sim.launch.py", "demo.launch.py"])
def test_an_empty_checkpoint_argument_keeps_the_parameter_files_checkpoint(name, tmp_path):
    """``checkpoint:=''`` (the default) resolves, before any node starts, to the checkpoint the
    world_model_params file names: passed after the files, '' would otherwise override it."""
    tree = ast.parse((REPO / "launch" / name).read_text())
    entries = next(call.args[0] for call in calls(tree, "LaunchDescription") if call.args).elts
    [resolve] = calls(tree, "checkpoint_of_parameter_files")
    first_node = min(
        i
        for i, entry in enumerate(entries)
        if isinstance(entry, ast.Call) and getattr(entry.func, "id", "").endswith("Node")
    )
    assert entries.index(resolve) < first_node
    params = tmp_path / "twin.yaml"
    params.write_text(
        "/**:\n  ros__parameters:\n    checkpoint: everyone\n"
        "world_model_node:\n  ros__parameters:\n    checkpoint: runs/large\n"
    )
    read = launch_common._file_parameter
    assert read(str(params), "world_model_node", "checkpoint") == "runs/large"
    assert read(str(params), "world_model_node", "model") is None
    assert read(str(tmp_path / "missing.yaml"), "world_model_node", "checkpoint") is None
    shipped = REPO / "config" / "world_model.yaml"
    assert read(str(shipped), "world_model_node", "checkpoint") == ""
