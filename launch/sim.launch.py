"""The embedded simulator with the world-model node (and rviz on request), all on sim time.

ros2 launch world_model_ros sim.launch.py [rviz:=true] [layout_seed:=10000] [real_time_factor:=1.0]
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
                "rviz",
                default_value="false",
                description="start rviz2 with config/world_model.rviz",
            ),
            DeclareLaunchArgument(
                "layout_seed", default_value="10000", description="arena layout seed"
            ),
            DeclareLaunchArgument(
                "real_time_factor", default_value="1.0", description="0 = as fast as possible"
            ),
            DeclareLaunchArgument(
                "world_model_params",
                default_value=os.path.join(share, "config", "world_model.yaml"),
                description="parameter file of world_model_node",
            ),
            Node(
                package="world_model_ros",
                executable="sim_node",
                name="sim_node",
                output="screen",
                parameters=[
                    os.path.join(share, "config", "sim.yaml"),
                    {
                        "layout_seed": LaunchConfiguration("layout_seed"),
                        "real_time_factor": LaunchConfiguration("real_time_factor"),
                    },
                ],
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
