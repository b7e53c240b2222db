"""The embedded simulator with the world-model node (and rviz on request), all on sim time.

    ros2 launch world_model_ros sim.launch.py
    ros2 launch world_model_ros sim.launch.py rviz:=true layout_seed:=10001 real_time_factor:=0.5
    ros2 launch world_model_ros sim.launch.py namespace:=robot1 log_level:=debug

sim_node publishes /clock; the other nodes follow it unless use_sim_time:=false.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from world_model_ros.nodes.launch_common import (
    OUTPUT,
    WORLD_MODEL_TOPICS,
    checkpoint_of_parameter_files,
    command_type_of_robot,
    common_arguments,
    refuse_missing,
    robot_arguments,
    share_file,
    topic_arguments,
)


def generate_launch_description() -> LaunchDescription:
    topics, remappings = topic_arguments(
        [name for name in WORLD_MODEL_TOPICS if name != "compressed_camera_topic"]
    )
    arguments = [
        DeclareLaunchArgument(
            "sim_params",
            default_value=share_file("config", "sim.yaml"),
            description="parameter file of sim_node",
        ),
        DeclareLaunchArgument(
            "world_model_params",
            default_value=share_file("config", "world_model.yaml"),
            description="parameter file of world_model_node",
        ),
        DeclareLaunchArgument(
            "layout_seed", default_value="10000", description="arena layout seed"
        ),
        *robot_arguments(),
        DeclareLaunchArgument(
            "real_time_factor",
            default_value="1.0",
            description="simulator speed; 0 = as fast as possible",
        ),
        *common_arguments("true", "the world model and rviz follow the simulator's /clock"),
        *topics,
    ]
    namespace = LaunchConfiguration("namespace")
    use_sim_time = ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)
    log_level = ["--log-level", LaunchConfiguration("log_level")]
    return LaunchDescription(
        [
            *arguments,
            refuse_missing([("rviz", "rviz2")]),
            command_type_of_robot(),
            checkpoint_of_parameter_files(),
            Node(
                package="world_model_ros",
                executable="sim_node",
                name="sim_node",
                namespace=namespace,
                parameters=[
                    LaunchConfiguration("sim_params"),
                    {
                        "layout_seed": ParameterValue(
                            LaunchConfiguration("layout_seed"), value_type=int
                        ),
                        "real_time_factor": ParameterValue(
                            LaunchConfiguration("real_time_factor"), value_type=float
                        ),
                        "robot": LaunchConfiguration("robot"),
                    },
                ],
                # tf in the namespace too, so several simulated robots do not mix their frames.
                remappings=[("/tf", "tf"), ("/tf_static", "tf_static"), *remappings],
                ros_arguments=log_level,
                output=OUTPUT,
            ),
            Node(
                package="world_model_ros",
                executable="world_model_node",
                name="world_model_node",
                namespace=namespace,
                parameters=[
                    LaunchConfiguration("world_model_params"),
                    {
                        "use_sim_time": use_sim_time,
                        "checkpoint": LaunchConfiguration("checkpoint"),
                        # the simulated base's command type (the robot file's): types agree
                        "cmd_vel_stamped": ParameterValue(
                            LaunchConfiguration("cmd_vel_stamped"), value_type=bool
                        ),
                    },
                ],
                remappings=remappings,
                ros_arguments=log_level,
                output=OUTPUT,
            ),
            Node(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                namespace=namespace,
                arguments=["-d", LaunchConfiguration("rviz_config")],
                parameters=[{"use_sim_time": use_sim_time}],
                remappings=[("/tf", "tf"), ("/tf_static", "tf_static"), *remappings],
                ros_arguments=log_level,
                condition=IfCondition(LaunchConfiguration("rviz")),
                output=OUTPUT,
            ),
        ]
    )
