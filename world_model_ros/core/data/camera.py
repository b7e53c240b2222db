"""Camera geometry: what a checkpoint was trained to see, and the one way a frame reaches it.

Why this module: the encoder takes a square S x S image. A 4:3 or 16:9 camera squashed to a
square shows every obstacle narrower than it is, and a model trained on one camera and run on
another (another field of view, another aspect) sees a different world without anyone being
told. So:

* :func:`fit_image` is the only way a camera frame becomes the encoder's input, in training
  (the bag loader and the training windows) and at run time (the predictor, the fast path and
  the ONNX backend): a centred crop to a square (``crop``, the default: keeps the vertical field
  of view and the centre of the horizontal one) or a scale with bars (``letterbox``: keeps the
  whole view, smaller), then an area-averaging resize. Never a squash.
* :class:`CameraSpec` is what a checkpoint records about its training camera (resolution,
  fields of view from ``camera_info`` when the bags have it, encoding), and
  :func:`camera_mismatch` says, in one sentence naming both, when a live camera differs.
* :class:`Footprint` is the robot's outline a checkpoint records (the planner and the occupancy
  head need its size).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

# Raw encodings the decoder supports (core/data/images.py) and that robot files may name.
ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
FIT_MODES = ("crop", "letterbox")


def fit_image(
    image_rgb_hw3: np.ndarray, size: int, mode: str = "crop", dst: np.ndarray | None = None
) -> np.ndarray:
    """Any-size uint8 RGB -> uint8 [size, size, 3], keeping the aspect ratio.

    ``crop``: the centred square of side min(H, W), resized; ``letterbox``: the whole frame
    scaled so its longer side is ``size``, centred on black bars. INTER_AREA (averages, no
    aliasing). A square frame gives the same result either way (a plain resize). ``dst``: an
    optional preallocated [size, size, 3] uint8 array to write into (the node's fast paths).
    """
    image = np.asarray(image_rgb_hw3)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 RGB [H, W, 3]; got {image.dtype} {image.shape}")
    if mode not in FIT_MODES:
        raise ValueError(f"image fit mode must be one of {', '.join(FIT_MODES)}; got {mode!r}")
    height, width = image.shape[:2]
    if height != width:
        if mode == "crop":
            side = min(height, width)
            top, left = (height - side) // 2, (width - side) // 2
            image = image[top : top + side, left : left + side]
        else:
            return _letterbox(image, size, dst)
    if image.shape[0] == size:
        if dst is None:
            return np.ascontiguousarray(image)
        np.copyto(dst, image)
        return dst
    if dst is None:
        return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    cv2.resize(image, (size, size), dst=dst, interpolation=cv2.INTER_AREA)
    return dst


def _letterbox(image: np.ndarray, size: int, dst: np.ndarray | None) -> np.ndarray:
    height, width = image.shape[:2]
    scale = size / max(height, width)
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    out = np.zeros((size, size, 3), np.uint8) if dst is None else dst
    out[...] = 0
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = cv2.resize(
        np.ascontiguousarray(image), (new_w, new_h), interpolation=cv2.INTER_AREA
    )
    return out


@dataclass(frozen=True)
class CameraSpec:
    """A camera as a checkpoint records it. Fields of view in degrees (None when unknown)."""

    width: int
    height: int
    fovx_deg: float | None = None
    fovy_deg: float | None = None
    encoding: str | None = None
    source: str = ""  # "camera_info", "robot file", "frames" (only the frames' size is known)

    @classmethod
    def from_intrinsics(
        cls,
        width: int,
        height: int,
        fx: float,
        fy: float,
        encoding: str | None = None,
        source: str = "camera_info",
    ) -> "CameraSpec":
        """From a pinhole's focal lengths in pixels (sensor_msgs/CameraInfo ``k[0]``, ``k[4]``)."""
        fovx = 2 * math.degrees(math.atan(width / (2 * fx))) if fx > 0 else None
        fovy = 2 * math.degrees(math.atan(height / (2 * fy))) if fy > 0 else None
        return cls(
            int(width),
            int(height),
            None if fovx is None else round(fovx, 3),
            None if fovy is None else round(fovy, 3),
            encoding,
            source,
        )

    def describe(self) -> str:
        parts = [f"{self.width}x{self.height}"]
        if self.fovx_deg is not None and self.fovy_deg is not None:
            parts.append(f"FOV {self.fovx_deg:.0f}x{self.fovy_deg:.0f} deg")
        if self.encoding:
            parts.append(self.encoding)
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "CameraSpec":
        known = {"width", "height", "fovx_deg", "fovy_deg", "encoding", "source"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown camera keys: {', '.join(unknown)}")
        return cls(**values)


def camera_mismatch(
    trained: CameraSpec | None,
    live: CameraSpec,
    fov_tolerance_deg: float = 2.0,
    aspect_tolerance: float = 0.02,
) -> str | None:
    """One sentence naming both cameras when the live one shows the model another view than
    it was trained on (another aspect ratio, field of view, or colour vs mono); None when they
    agree or the trained camera is unknown. A different resolution alone is not a mismatch:
    :func:`fit_image` brings every frame to the same input."""
    if trained is None:
        return None
    reasons = []
    trained_aspect, live_aspect = trained.width / trained.height, live.width / live.height
    if abs(trained_aspect / live_aspect - 1.0) > aspect_tolerance:
        reasons.append("aspect ratio")
    for axis in ("fovx_deg", "fovy_deg"):
        a, b = getattr(trained, axis), getattr(live, axis)
        if a is not None and b is not None and abs(a - b) > fov_tolerance_deg:
            reasons.append("field of view")
            break
    if (
        trained.encoding
        and live.encoding
        and (trained.encoding == "mono8") != (live.encoding == "mono8")
    ):
        reasons.append("colour")
    if not reasons:
        return None
    return (
        f"the live camera ({live.describe()}) differs from the one the model was trained with "
        f"({trained.describe()}) in {', '.join(reasons)}: its predictions may be out of domain"
    )


@dataclass(frozen=True)
class Footprint:
    """The robot's outline in base_link: a circle (``radius_m``) or a centred rectangle."""

    kind: str = "circle"
    radius_m: float = 0.17
    length_m: float = 0.0
    width_m: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("circle", "rectangle"):
            raise ValueError(f"footprint kind must be circle or rectangle; got {self.kind!r}")
        if self.kind == "circle" and not self.radius_m > 0:
            raise ValueError(f"footprint radius_m must be > 0; got {self.radius_m}")
        if self.kind == "rectangle" and not (self.length_m > 0 and self.width_m > 0):
            raise ValueError(
                f"footprint length_m and width_m must be > 0; got {self.length_m}, {self.width_m}"
            )

    @property
    def circumscribed_radius_m(self) -> float:
        """The smallest circle around the footprint (what a circular collision check needs)."""
        if self.kind == "circle":
            return self.radius_m
        return math.hypot(self.length_m, self.width_m) / 2

    @property
    def inscribed_radius_m(self) -> float:
        if self.kind == "circle":
            return self.radius_m
        return min(self.length_m, self.width_m) / 2

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["circumscribed_radius_m"] = round(self.circumscribed_radius_m, 4)
        out["inscribed_radius_m"] = round(self.inscribed_radius_m, 4)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Footprint":
        values = {
            k: v
            for k, v in values.items()
            if k not in ("circumscribed_radius_m", "inscribed_radius_m")
        }
        return cls(**values)


def encoder_half_fov_rad(camera: CameraSpec, image_fit: str) -> float | None:
    """Half the horizontal field of view the encoder sees of ``camera`` (None when unknown):
    the whole width when letterboxed, the centred square's when cropped. What a planner's
    occupancy map and contact memory count as "in view" for a model of that camera."""
    if camera.fovx_deg is None:
        return None
    half = math.radians(camera.fovx_deg) / 2.0
    if image_fit == "crop" and camera.width > camera.height:
        half = math.atan(math.tan(half) * camera.height / camera.width)
    return half
