"""world_model_node against Gazebo: ros_gz_bridge (config/gz_bridge.yaml) beside the node.

Start your Gazebo world first (a diff-drive model named "robot" with a camera), then
    ros2 launch world_model_ros gazebo_bridge.launch.py [bridge_config:=/path/to/your_bridge.yaml]
Everything runs on Gazebo's /clock (use_sim_time).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription


def generate_launch_description():
    share = get_package_share_directory("world_model_ros")
    use_sim_time = {"use_sim_time": True}
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "bridge_config",
                default_value=os.path.join(share, "config", "gz_bridge.yaml"),
                description="ros_gz_bridge topic map",
            ),
            DeclareLaunchArgument(
                "world_model_params",
                default_value=os.path.join(share, "config", "world_model.yaml"),
                description="parameter file of world_model_node",
            ),
            DeclareLaunchArgument(
                "rviz",
                default_value="false",
                description="start rviz2 with config/world_model.rviz",
            ),
            Node(
                package="ros_gz_bridge",
                executable="parameter_bridge",
                name="gz_bridge",
                output="screen",
                parameters=[{"config_file": LaunchConfiguration("bridge_config")}, use_sim_time],
            ),
            Node(
                package="world_model_ros",
                executable="world_model_node",
                name="world_model_node",
                output="screen",
                parameters=[LaunchConfiguration("world_model_params"), use_sim_time],
            ),
            Node(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                output="screen",
                arguments=["-d", os.path.join(share, "config", "world_model.rviz")],
                parameters=[use_sim_time],
                condition=IfCondition(LaunchConfiguration("rviz")),
            ),
        ]
    )
