"""Camera frames from their wire form (core/data/images.py): every encoding, padded rows, bad
sizes."""

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from world_model_ros.core.data.images import (
    RAW_ENCODINGS,
    ImageError,
    decode_compressed,
    decode_raw,
    encode_raw,
)

RGB = np.random.default_rng(0).integers(0, 255, (6, 8, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_round_trip_colour_encodings(encoding):
    height, width, step, data = encode_raw(RGB, encoding)
    assert step == width * RAW_ENCODINGS[encoding]
    np.testing.assert_array_equal(decode_raw(encoding, height, width, step, data), RGB)


def test_mono8_becomes_grey_rgb():
    grey = np.arange(48, dtype=np.uint8).reshape(6, 8)
    out = decode_raw("mono8", 6, 8, 8, grey.tobytes())
    assert out.shape == (6, 8, 3) and (out == grey[..., None]).all()


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 12),
    st.integers(0, 9),
    st.sampled_from(sorted(RAW_ENCODINGS)),
)
def test_padded_rows_honour_step(height, width, padding, encoding):
    rgb = np.random.default_rng(height * 100 + width).integers(
        0, 255, (height, width, 3), dtype=np.uint8
    )
    _, _, step, data = encode_raw(rgb, encoding)
    rows = np.frombuffer(data, np.uint8).reshape(height, step)
    padded = np.concatenate([rows, np.full((height, padding), 77, np.uint8)], axis=1)
    expected = decode_raw(encoding, height, width, step, data)
    np.testing.assert_array_equal(
        decode_raw(encoding, height, width, step + padding, padded.tobytes()), expected
    )


@pytest.mark.parametrize(
    "fields, reason, text",
    [
        (("yuv422", 6, 8, 16, bytes(96)), "bad_encoding", "unsupported encoding 'yuv422'"),
        (("rgb8", 0, 0, 0, b""), "bad_size", "zero-sized image"),
        (("rgb8", 6, 8, 24, bytes(10)), "bad_size", "data is 10 bytes"),
        (("rgb8", 6, 8, 20, bytes(120)), "bad_size", "step 20 < width 8"),
        (("mono8", 5000, 5000, 5000, b""), "bad_size", "exceeds max_pixels"),
    ],
)
def test_bad_images_name_the_problem(fields, reason, text):
    with pytest.raises(ImageError) as error:
        decode_raw(*fields, max_pixels=1_000_000)
    assert error.value.reason == reason and text in str(error.value)


def test_compressed_jpeg_png_and_garbage():
    png = cv2.imencode(".png", cv2.cvtColor(RGB, cv2.COLOR_RGB2BGR))[1].tobytes()
    np.testing.assert_array_equal(decode_compressed(png), RGB)
    assert decode_compressed(cv2.imencode(".jpg", RGB)[1].tobytes()).shape == (6, 8, 3)
    for data, reason in ((b"", "bad_size"), (b"not an image", "bad_encoding")):
        with pytest.raises(ImageError) as error:
            decode_compressed(data)
        assert error.value.reason == reason
    with pytest.raises(ImageError, match="exceeds max_pixels"):
        decode_compressed(png, max_pixels=10)
