"""Camera images from their wire form (sensor_msgs/Image, CompressedImage fields) to RGB arrays.

Ours rather than cv_bridge: ROS 2's cv_bridge is not on the package registries, and PyPI's
port of the ROS 1 one breaks under NumPy 2 and ignores row padding (``step``). Both the node
(live messages) and the dataset loader (rosbags messages) call these, so a frame decodes the
same way live and in training.

Sizes are checked before anything is allocated. A compressed image says how large it is in
its header: a 48.6 KB PNG can claim 20000 x 20000 pixels and decode to 1.2 GB. Pillow reads
only the header (PNG IHDR, JPEG SOF) when it opens a file, so the pixel limit is applied
before OpenCV decodes a byte; the data's magic bytes must agree with the declared ``format``.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import JpegImagePlugin, PngImagePlugin

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


MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff"}
_HEADER_READERS = {
    "png": PngImagePlugin.PngImageFile,  # the plugin classes, not Image.open: no bomb warning,
    "jpeg": JpegImagePlugin.JpegImageFile,  # the limit here is ours (max_pixels)
}


def declared_codec(format: str) -> str | None:
    """The codec a sensor_msgs/CompressedImage ``format`` names: "jpeg", "png", or None when
    the field is empty; ImageError("bad_format") for anything else (compressedDepth, tiff).

    image_transport writes "jpeg", "png" or "<encoding>; jpeg compressed <encoding>".
    """
    text = format.strip().lower()
    if not text:
        return None
    if "compresseddepth" in text:
        raise ImageError("bad_format", f"format '{format}' is a depth image, not a camera image")
    found = {
        codec
        for codec, words in (("jpeg", ("jpeg", "jpg")), ("png", ("png",)))
        if any(word in text for word in words)
    }
    if len(found) != 1:
        raise ImageError("bad_format", f"format '{format}' names neither JPEG nor PNG")
    return found.pop()


def compressed_size(data: bytes | np.ndarray | memoryview, format: str | None = None):
    """(codec, width, height) of compressed image bytes, read from the header only; raises
    ImageError: ``bad_format`` for a format naming no supported codec, ``format_mismatch``
    when the data's magic bytes are another codec than ``format`` says, ``bad_encoding`` for
    data that is neither JPEG nor PNG or whose header cannot be read."""
    head = bytes(memoryview(data)[:8]) if not isinstance(data, np.ndarray) else data[:8].tobytes()
    actual = next((codec for codec, magic in MAGIC.items() if head.startswith(magic)), None)
    declared = declared_codec(format) if format is not None else None
    if actual is None:
        raise ImageError(
            "bad_encoding", f"data is neither JPEG nor PNG (first bytes {head[:4].hex()})"
        )
    if declared is not None and declared != actual:
        raise ImageError(
            "format_mismatch", f"format '{format}' says {declared} but the data is {actual}"
        )
    raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    try:
        width, height = _HEADER_READERS[actual](io.BytesIO(raw)).size
    except Exception as exc:  # noqa: BLE001 - Pillow raises SyntaxError, OSError, struct.error
        raise ImageError(
            "bad_encoding", f"{actual} header cannot be read ({type(exc).__name__}: {exc})"
        ) from None
    return actual, int(width), int(height)


def decode_compressed(
    data: bytes | np.ndarray | memoryview,
    max_pixels: int = MAX_PIXELS_DEFAULT,
    format: str | None = None,
) -> np.ndarray:
    """JPEG/PNG bytes (sensor_msgs/CompressedImage) -> uint8 RGB [H, W, 3]; raises ImageError.

    The header's size is checked against ``max_pixels`` before decoding; ``format`` (the
    message's field; None: not checked) must agree with the data's magic bytes.
    """
    buffer = (
        np.frombuffer(data, dtype=np.uint8)
        if not isinstance(data, np.ndarray)
        else data.reshape(-1).view(np.uint8)
    )
    if buffer.size == 0:
        raise ImageError("bad_size", "empty compressed image")
    codec, width, height = compressed_size(buffer, format)
    if width <= 0 or height <= 0:
        raise ImageError("bad_size", f"zero-sized {codec} image {width}x{height}")
    if width * height > max_pixels:
        raise ImageError(
            "bad_size",
            f"{codec} header says {width}x{height}, which exceeds max_pixels={max_pixels} "
            f"(not decoded)",
        )
    bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError("bad_encoding", f"compressed data is not a decodable {codec}")
    if bgr.shape[:2] != (height, width):
        raise ImageError(
            "bad_encoding",
            f"{codec} decoded to {bgr.shape[1]}x{bgr.shape[0]}, header said {width}x{height}",
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
