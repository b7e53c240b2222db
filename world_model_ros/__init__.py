"""world_model_ros: a learned latent world model as a live digital twin of a ROS 2 robot."""

from pkgutil import extend_path

# The generated messages (world_model_ros.msg) are installed by the rosidl build, the
# hand-written modules by pip or colcon; they may live in different folders on sys.path.
__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
