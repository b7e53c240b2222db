"""What the launch files in launch/ share: the topic table behind their remapping arguments,
node output settings, and the check that refuses to start anything a launch cannot finish.

Imported only by launch/*.launch.py (launch and launch_ros come with a ROS 2 installation, not
from PyPI; they are imported inside the functions that need them).
"""

from __future__ import annotations

import os
from typing import Any

PACKAGE = "world_model_ros"
# Every node of every launch file: output on the screen (and in the launch log), no
# emulate_tty, so logs redirected to a file carry no colour escapes.
OUTPUT = "screen"

# Remapping arguments: (argument, the topic name the nodes use, description). A launch file
# offers those of the topics it wires; relative names follow `namespace`.
TOPICS = {
    "camera_topic": ("camera/image_raw", "sensor_msgs/Image camera input"),
    "compressed_camera_topic": (
        "camera/image_raw/compressed",
        "sensor_msgs/CompressedImage camera input (use_compressed)",
    ),
    "odom_topic": ("odom", "nav_msgs/Odometry"),
    "cmd_vel_topic": ("cmd_vel", "geometry_msgs/Twist or TwistStamped velocity commands"),
    "plan_topic": ("mpc_planner/plan", "the MPC planner's plan (WorldModelPrediction)"),
    "prediction_topic": ("world_model/prediction", "WorldModelPrediction output"),
    "path_topic": ("world_model/predicted_path", "nav_msgs/Path output"),
    "markers_topic": ("world_model/markers", "visualization_msgs/MarkerArray output"),
    "diagnostics_topic": ("diagnostics", "diagnostic_msgs/DiagnosticArray output"),
    "live_error_topic": ("world_model/live_error", "LiveError output"),
    "contact_topic": ("ground_truth/contact", "std_msgs/Bool contact ground truth"),
    "domain_topic": (
        "world_model/domain",
        "DomainStatus (latched): is the learned model still a twin of this robot",
    ),
    "state_topic": ("world_model/state", "the twin's state for the planner"),
    "goal_topic": ("goal_pose", "geometry_msgs/PoseStamped goals (rviz 2D Goal Pose)"),
    "planner_markers_topic": ("mpc_planner/markers", "the planner's rollouts (MarkerArray)"),
    "occupancy_topic": ("mpc_planner/occupancy", "the planner's occupancy map"),
    "status_topic": ("mpc_planner/status", "the planner's goal status"),
}
WORLD_MODEL_TOPICS = [
    "camera_topic",
    "compressed_camera_topic",
    "odom_topic",
    "cmd_vel_topic",
    "plan_topic",
    "prediction_topic",
    "path_topic",
    "markers_topic",
    "diagnostics_topic",
    "live_error_topic",
    "contact_topic",
    "domain_topic",
]


def share_file(*parts: str) -> str:
    """A plain path under the installed share/world_model_ros (shown as is by --show-args)."""
    from ament_index_python.packages import get_package_share_directory

    return os.path.join(get_package_share_directory(PACKAGE), *parts)


COMMON_ARGUMENTS = ("namespace", "use_sim_time", "log_level", "rviz", "rviz_config")


def common_arguments(use_sim_time: str, use_sim_time_description: str) -> list[Any]:
    """The arguments every launch file takes (COMMON_ARGUMENTS), declared once here; only
    ``use_sim_time``'s default and description differ between them."""
    from launch.actions import DeclareLaunchArgument

    return [
        DeclareLaunchArgument(
            "namespace", default_value="", description="namespace of the nodes and their topics"
        ),
        DeclareLaunchArgument(
            "use_sim_time", default_value=use_sim_time, description=use_sim_time_description
        ),
        DeclareLaunchArgument(
            "log_level", default_value="info", description="log level of every node"
        ),
        DeclareLaunchArgument(
            "rviz", default_value="false", description="also start rviz2 (needs rviz2)"
        ),
        DeclareLaunchArgument(
            "rviz_config",
            default_value=share_file("config", "world_model.rviz"),
            description="rviz2 configuration",
        ),
    ]


# The simulated robot and the learned model's checkpoint (sim.launch.py, demo.launch.py).
ROBOT_ARGUMENTS = ("robot", "checkpoint")


def robot_arguments() -> list[Any]:
    """``robot`` (the simulated robot's file) and ``checkpoint`` (the twin's and the planner's
    learned model, e.g. one adapted to that robot), declared once for the simulation launches."""
    from launch.actions import DeclareLaunchArgument

    return [
        DeclareLaunchArgument(
            "robot",
            default_value="",
            description="simulated robot: a robot file (config/robots/<name>.yaml or a path; "
            "'' = the default robot, camera as in sim_params)",
        ),
        DeclareLaunchArgument(
            "checkpoint",
            default_value="",
            description="learned model, a robot's own from `world-model-ros adapt` (overrides "
            "the parameter files' checkpoint; '' = the world_model_params file's, which is the "
            "shipped one unless that file names another)",
        ),
    ]


def topic_arguments(names: list[str]) -> tuple[list[Any], list[tuple[str, Any]]]:
    """The DeclareLaunchArgument of each topic in ``names`` and the remappings they drive."""
    from launch.actions import DeclareLaunchArgument
    from launch.substitutions import LaunchConfiguration

    arguments = [
        DeclareLaunchArgument(name, default_value=TOPICS[name][0], description=TOPICS[name][1])
        for name in names
    ]
    remappings = [(TOPICS[name][0], LaunchConfiguration(name)) for name in names]
    return arguments, remappings


def refuse_missing(requirements: list[tuple[str | None, str]]) -> Any:
    """An action to put first in a launch description: stop with one line, before any node
    starts, when a node that this launch will start comes from a package not installed here.

    ``requirements``: (launch argument that enables the node, or None when it always starts;
    package). Without this, launch starts the nodes listed before the missing one and exits
    on the error, leaving them running.
    """
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    from launch.actions import OpaqueFunction
    from launch.conditions import IfCondition
    from launch.substitutions import LaunchConfiguration

    def check(context: Any) -> list[Any]:
        for argument, package in requirements:
            if argument is not None and not IfCondition(LaunchConfiguration(argument)).evaluate(
                context
            ):
                continue
            try:
                get_package_prefix(package)
            except PackageNotFoundError:
                wanted = f"{argument}:=true" if argument else "this launch file"
                raise RuntimeError(
                    f"{wanted} needs the ROS 2 package '{package}', which is not installed "
                    f"(e.g. apt install ros-$ROS_DISTRO-{package.replace('_', '-')}); "
                    "nothing was started"
                ) from None
        return []

    return OpaqueFunction(function=check)


def command_type_of_robot() -> Any:
    """An action that sets the launch configuration ``cmd_vel_stamped`` ("true" or "false") to
    the command type of the simulated base: the robot file's ``cmd_vel_stamped`` when the
    ``robot`` argument names one, else the ``sim_params`` file's. The planner and the twin take
    it, so all three agree on Twist or TwistStamped (DDS connects nothing across the two, and
    says nothing). A robot file that does not load stops the launch in one line, before any
    node starts."""
    from launch.actions import OpaqueFunction, SetLaunchConfiguration

    def decide(context: Any) -> list[Any]:
        config = context.launch_configurations
        robot = config.get("robot", "")
        if robot:
            from world_model_ros.sim.robots import RobotFileError, load_robot

            try:
                stamped = load_robot(robot).cmd_vel_stamped
            except (RobotFileError, ValueError) as error:
                raise RuntimeError(f"robot:={robot}: {error}; nothing was started") from None
        else:
            stamped = bool(
                _file_parameter(config.get("sim_params", ""), "sim_node", "cmd_vel_stamped")
            )
        return [SetLaunchConfiguration("cmd_vel_stamped", "true" if stamped else "false")]

    return OpaqueFunction(function=decide)


def checkpoint_of_parameter_files() -> Any:
    """An action that resolves ``checkpoint:=''`` to the world_model_params file's checkpoint.
    The launch passes ``checkpoint`` to the twin and the planner after their parameter files,
    so without this an argument left at '' would override a checkpoint the file names."""
    from launch.actions import OpaqueFunction, SetLaunchConfiguration

    def decide(context: Any) -> list[Any]:
        config = context.launch_configurations
        if config.get("checkpoint", ""):
            return []
        named = _file_parameter(
            config.get("world_model_params", ""), "world_model_node", "checkpoint"
        )
        return [SetLaunchConfiguration("checkpoint", str(named or ""))]

    return OpaqueFunction(function=decide)


def _file_parameter(path: str, node: str, name: str) -> Any:
    """Parameter ``name`` of the node ``node`` (a key ending in it, or ``/**``) in a parameter
    file; None when the file does not say (or cannot be read: the node itself reports that)."""
    from pathlib import Path

    import yaml

    try:
        document = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    found = None
    for key, section in document.items() if isinstance(document, dict) else ():
        if (str(key).endswith(node) or str(key) == "/**") and isinstance(section, dict):
            parameters = section.get("ros__parameters") or {}
            if isinstance(parameters, dict) and name in parameters:
                found = parameters[name]  # the node's own section after a /** one
    return found
