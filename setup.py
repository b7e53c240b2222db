"""Python packaging of world_model_ros (pip).

In a ROS 2 workspace colcon builds CMakeLists.txt (messages, these sources, share/ and
lib/world_model_ros/). On a machine without a ROS 2 distribution tools/bootstrap.sh runs the
same CMake build into a virtual environment and installs this package with pip in editable
mode; an editable install carries no data_files, so there CMake installs share/ and lib/. A
plain `pip install .` installs the data_files below as well (everything but the messages).
"""

from glob import glob

from setuptools import find_packages, setup

package_name = "world_model_ros"
executables = ["world_model_node", "world_model_lifecycle_node", "sim_node", "mpc_planner_node"]

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(include=[package_name, f"{package_name}.*"]),
    package_data={package_name: ["checkpoints/*/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/launch", glob("launch/*.launch.py")),
        (f"share/{package_name}/config", glob("config/*")),
        (f"share/{package_name}/msg", glob("msg/*.msg")),
        (f"lib/{package_name}", [f"scripts/{name}" for name in executables + ["world-model-ros"]]),
    ],
    install_requires=[
        "numpy",
        "pyyaml",
        "torch",
        "opencv-python-headless",
        "safetensors",
        "pyarrow",
        "rosbags",
        "tqdm",
        "matplotlib",
        "pillow",
        "mujoco",
        "scipy",
    ],
    python_requires=">=3.10",
    zip_safe=False,
    maintainer="world_model_ros maintainers",
    description="A learned latent world model as a live digital twin of a ROS 2 robot.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "world-model-ros = world_model_ros.cli.main:main",
            "world_model_node = world_model_ros.nodes.world_model_node:main",
            "world_model_lifecycle_node = world_model_ros.nodes.world_model_node:lifecycle_main",
            "sim_node = world_model_ros.nodes.sim_node:main",
            "mpc_planner_node = world_model_ros.nodes.mpc_planner_node:main",
        ],
    },
)
