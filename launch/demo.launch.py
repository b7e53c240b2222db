"""The demo as separate ROS 2 nodes: simulator, world model and MPPI planner (+ rviz2), on sim
time.

    ros2 launch world_model_ros demo.launch.py                         # latent model, layout 10000
    ros2 launch world_model_ros demo.launch.py rviz:=true              # then click "2D Goal Pose"
    ros2 launch world_model_ros demo.launch.py model:=kinematic goal_x:=1.5 goal_y:=-1.0
    send_goal:=true

Goals go to ``goal_pose`` in the ``odom`` frame (rviz's Fixed Frame must be ``odom``: the
planner has no tf2 and rejects goals in other frames). The planner's plan goes to the
world-model node on ``mpc_planner/plan``, so its predictions are under the plan being executed.
Without a ROS 2 install, ``world-model-ros demo`` runs the same loop in one process.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, ExecuteProcess, TimerAction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription


def generate_launch_description():
    share = get_package_share_directory("world_model_ros")
    config = os.path.join(share, "config")
    use_sim_time = {"use_sim_time": True}
    model = LaunchConfiguration("model")
    goal = [
        "{header: {frame_id: odom}, pose: {position: {x: ",
        LaunchConfiguration("goal_x"),
        ", y: ",
        LaunchConfiguration("goal_y"),
        "}, orientation: {w: 1.0}}}",
    ]
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "model",
                default_value="latent",
                description="predictor of the world model and the planner: latent | kinematic",
            ),
            DeclareLaunchArgument(
                "layout_seed",
                default_value="10000",
                description="arena layout (>= 10000: layouts not used in training)",
            ),
            DeclareLaunchArgument(
                "real_time_factor",
                default_value="1.0",
                description="simulator speed; 0 = as fast as possible",
            ),
            DeclareLaunchArgument(
                "rviz",
                default_value="false",
                description="start rviz2 with config/world_model.rviz",
            ),
            DeclareLaunchArgument(
                "planner_params",
                default_value=os.path.join(config, "mpc_planner.yaml"),
                description="parameter file of mpc_planner_node",
            ),
            DeclareLaunchArgument(
                "world_model_params",
                default_value=os.path.join(config, "world_model.yaml"),
                description="parameter file of world_model_node",
            ),
            DeclareLaunchArgument(
                "send_goal",
                default_value="false",
                description="publish goal_x/goal_y (odom frame) once, 5 s after start",
            ),
            DeclareLaunchArgument(
                "goal_x", default_value="1.5", description="goal x (m, odom frame)"
            ),
            DeclareLaunchArgument(
                "goal_y", default_value="1.0", description="goal y (m, odom frame)"
            ),
            Node(
                package="world_model_ros",
                executable="sim_node",
                name="sim_node",
                output="screen",
                parameters=[
                    os.path.join(config, "sim.yaml"),
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
                parameters=[
                    LaunchConfiguration("world_model_params"),
                    {"model": model},
                    use_sim_time,
                ],
            ),
            Node(
                package="world_model_ros",
                executable="mpc_planner_node",
                name="mpc_planner_node",
                output="screen",
                parameters=[LaunchConfiguration("planner_params"), {"model": model}, use_sim_time],
            ),
            Node(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                output="screen",
                arguments=["-d", os.path.join(config, "world_model.rviz")],
                parameters=[use_sim_time],
                condition=IfCondition(LaunchConfiguration("rviz")),
            ),
            TimerAction(
                period=5.0,
                condition=IfCondition(LaunchConfiguration("send_goal")),
                actions=[
                    ExecuteProcess(
                        cmd=[
                            "ros2",
                            "topic",
                            "pub",
                            "--once",
                            "/goal_pose",
                            "geometry_msgs/msg/PoseStamped",
                            goal,
                        ],
                        output="screen",
                    )
                ],
            ),
        ]
    )
