"""Camera images from their wire form (sensor_msgs/Image, CompressedImage fields) to RGB arrays.

Ours rather than cv_bridge: ROS 2's cv_bridge is not on the package registries, and PyPI's
port of the ROS 1 one breaks under NumPy 2 and ignores row padding (``step``). Both the node
(live messages) and the dataset loader (rosbags messages) call these, so a frame decodes the
same way live and in training.
"""

from __future__ import annotations

import cv2
import numpy as np

# Channels per pixel of each supported raw encoding.
RAW_ENCODINGS: dict[str, int] = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}
MAX_PIXELS_DEFAULT = 4096 * 4096


class ImageError(ValueError):
    """An image that cannot be used; the message says why (for logs and counters)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason  # short, stable key for counting ("bad_encoding", "bad_size", ...)


def decode_raw(
    encoding: str,
    height: int,
    width: int,
    step: int,
    data: bytes | np.ndarray | memoryview,
    max_pixels: int = MAX_PIXELS_DEFAULT,
) -> np.ndarray:
    """Raw image fields -> contiguous uint8 RGB [height, width, 3]; raises ImageError.

    Honours ``step`` (bytes per row, which may include padding) and never trusts the sizes the
    message claims: they are checked against the data actually received.
    """
    channels = RAW_ENCODINGS.get(encoding)
    if channels is None:
        raise ImageError(
            "bad_encoding",
            f"unsupported encoding '{encoding}' (supported: {', '.join(RAW_ENCODINGS)})",
        )
    if height <= 0 or width <= 0:
        raise ImageError("bad_size", f"zero-sized image {width}x{height}")
    if height * width > max_pixels:
        raise ImageError("bad_size", f"image {width}x{height} exceeds max_pixels={max_pixels}")
    if step < width * channels:
        raise ImageError("bad_size", f"step {step} < width {width} x {channels} channels")
    buffer = (
        np.frombuffer(data, dtype=np.uint8)
        if not isinstance(data, np.ndarray)
        else data.reshape(-1).view(np.uint8)
    )
    if buffer.size != height * step:
        raise ImageError(
            "bad_size",
            f"data is {buffer.size} bytes, expected height {height} x step {step} = "
            f"{height * step}",
        )
    pixels = buffer.reshape(height, step)[:, : width * channels].reshape(height, width, channels)
    if encoding == "rgb8":
        return np.ascontiguousarray(pixels)
    conversion = {
        "bgr8": cv2.COLOR_BGR2RGB,
        "rgba8": cv2.COLOR_RGBA2RGB,
        "bgra8": cv2.COLOR_BGRA2RGB,
        "mono8": cv2.COLOR_GRAY2RGB,
    }[encoding]
    return cv2.cvtColor(np.ascontiguousarray(pixels), conversion)


def decode_compressed(
    data: bytes | np.ndarray | memoryview, max_pixels: int = MAX_PIXELS_DEFAULT
) -> np.ndarray:
    """JPEG/PNG bytes (sensor_msgs/CompressedImage) -> uint8 RGB [H, W, 3]; raises ImageError."""
    buffer = (
        np.frombuffer(data, dtype=np.uint8)
        if not isinstance(data, np.ndarray)
        else data.reshape(-1).view(np.uint8)
    )
    if buffer.size == 0:
        raise ImageError("bad_size", "empty compressed image")
    bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError("bad_encoding", "compressed data is not a decodable JPEG/PNG")
    if bgr.shape[0] * bgr.shape[1] > max_pixels:
        raise ImageError(
            "bad_size", f"image {bgr.shape[1]}x{bgr.shape[0]} exceeds max_pixels={max_pixels}"
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_raw(rgb_hw3: np.ndarray, encoding: str = "rgb8") -> tuple[int, int, int, bytes]:
    """RGB array -> (height, width, step, data) for a sensor_msgs/Image of ``encoding``."""
    if encoding not in RAW_ENCODINGS:
        raise ImageError("bad_encoding", f"unsupported encoding '{encoding}'")
    conversion = {
        "rgb8": None,
        "bgr8": cv2.COLOR_RGB2BGR,
        "rgba8": cv2.COLOR_RGB2RGBA,
        "bgra8": cv2.COLOR_RGB2BGRA,
        "mono8": cv2.COLOR_RGB2GRAY,
    }[encoding]
    pixels = rgb_hw3 if conversion is None else cv2.cvtColor(rgb_hw3, conversion)
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width = pixels.shape[:2]
    return height, width, width * RAW_ENCODINGS[encoding], pixels.tobytes()
