"""runtime.resize / runtime.preprocess against the torch / Hugging Face calls they replace.

* uint8 frame resize: bit-exact with ``torchvision.transforms.v2.functional.resize(..., antialias=True)`` on a
  uint8 NCHW tensor (the call HF's Sam2 processors make), i.e. ATen's uint8 antialiased bilinear kernel.
* ``preprocess_frame``: equal to HF ``Sam2VideoProcessor`` pixel values, video path (``init_video_session``)
  and streaming path (``processor(images=frame)``).
* float resizes: ``F.interpolate(mode="bilinear", align_corners=False)`` with and without antialias.
* input validation, and that importing the runtime does not import torch.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as tvF

from runtime.preprocess import IMAGENET_MEAN, IMAGENET_STD, preprocess_frame
from runtime.resize import resize_bilinear, resize_bilinear_antialias, resize_uint8_antialias_bilinear

REPO = Path(__file__).resolve().parents[1]

# (input H, W) -> (output H, W): video-frame downscales and upscales to 1024², identity, odd and extreme shapes.
UINT8_PAIRS = [
    ((480, 640), (1024, 1024)),
    ((720, 1280), (1024, 1024)),
    ((1080, 1920), (1024, 1024)),
    ((300, 200), (1024, 1024)),
    ((1024, 1024), (1024, 1024)),
    ((1025, 1023), (1024, 1024)),
    ((333, 517), (1024, 1024)),
    ((17, 1023), (1024, 31)),
    ((100, 100), (3, 250)),
    ((1, 1), (7, 5)),
    ((1440, 2560), (512, 512)),
    ((639, 211), (97, 1003)),
]


def _native_uint8_path() -> bool:
    """Whether torchvision resizes uint8 natively on this CPU (AVX2/AVX-512 x86, arm64), as it decides."""
    return torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512") or platform.machine() in (
        "aarch64",
        "arm64",
    )


def _image(kind: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "random":
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = [127.5 + 127.5 * np.sin(x / 13.0 + c) * np.cos(y / 29.0 - 2 * c) for c in range(3)]
    return np.clip(np.round(np.stack(planes, axis=-1)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(("src", "dst"), UINT8_PAIRS, ids=[f"{s[0]}x{s[1]}-{d[0]}x{d[1]}" for s, d in UINT8_PAIRS])
def test_uint8_resize_bit_exact(src: tuple[int, int], dst: tuple[int, int]) -> None:
    rng = np.random.default_rng(src[0] * 7919 + src[1])
    for kind in ("random", "smooth"):
        image = _image(kind, *src, rng)
        ours = resize_uint8_antialias_bilinear(image, *dst)
        assert ours.shape == (*dst, 3) and ours.dtype == np.uint8
        nchw = torch.from_numpy(image).permute(2, 0, 1).contiguous()[None]
        # ATen's uint8 kernel, which is what torchvision runs for uint8 on AVX2/AVX-512/arm64 CPUs.
        kernel = F.interpolate(nchw, size=dst, mode="bilinear", align_corners=False, antialias=True)
        np.testing.assert_array_equal(ours, kernel[0].permute(1, 2, 0).numpy(), err_msg=kind)
        if _native_uint8_path():
            # The exact call HF's TorchvisionBackend.resize makes.
            hf_call = tvF.resize(nchw, list(dst), interpolation=tvF.InterpolationMode.BILINEAR, antialias=True)
            np.testing.assert_array_equal(ours, hf_call[0].permute(1, 2, 0).numpy(), err_msg=kind)


def test_uint8_resize_accepts_views() -> None:
    rng = np.random.default_rng(3)
    bgr = rng.integers(0, 256, (241, 319, 3), dtype=np.uint8)
    rgb_view = bgr[..., ::-1]  # negative strides
    np.testing.assert_array_equal(
        resize_uint8_antialias_bilinear(rgb_view, 128, 160),
        resize_uint8_antialias_bilinear(np.ascontiguousarray(rgb_view), 128, 160),
    )
    same = resize_uint8_antialias_bilinear(bgr, 241, 319)
    np.testing.assert_array_equal(same, bgr)
    assert same is not bgr


@pytest.fixture(scope="module")
def hf_processor():
    from transformers import Sam2ImageProcessor, Sam2VideoProcessor, Sam2VideoVideoProcessor

    size = {"height": 1024, "width": 1024}
    return Sam2VideoProcessor(
        image_processor=Sam2ImageProcessor(size=size, mask_size={"height": 256, "width": 256}),
        video_processor=Sam2VideoVideoProcessor(size=size),
        target_size=1024,
    )


@pytest.mark.parametrize(("h", "w", "n"), [(480, 640, 2), (1080, 1920, 1), (300, 200, 1), (1024, 1024, 1)])
def test_preprocess_matches_hf_video_session(hf_processor, h: int, w: int, n: int) -> None:
    rng = np.random.default_rng(h + w)
    frames = [_image("random" if i % 2 == 0 else "smooth", h, w, rng) for i in range(n)]
    # The path EdgeTAM video inference takes: frames -> Sam2VideoVideoProcessor -> inference session.
    session = hf_processor.init_video_session(video=frames, inference_device="cpu")
    for i, frame in enumerate(frames):
        ours = preprocess_frame(frame, 1024)
        assert ours.shape == (1, 3, 1024, 1024) and ours.dtype == np.float32
        hf = session.processed_frames[i].numpy()
        assert np.abs(ours[0] - hf).max() <= 1e-6


def test_preprocess_matches_hf_streaming_path(hf_processor) -> None:
    frame = _image("random", 720, 1280, np.random.default_rng(5))
    hf = hf_processor(images=frame, return_tensors="pt").pixel_values.numpy()
    assert np.abs(preprocess_frame(frame, 1024) - hf).max() <= 1e-6


def test_preprocess_constants_and_other_sizes() -> None:
    assert IMAGENET_MEAN == (0.485, 0.456, 0.406) and IMAGENET_STD == (0.229, 0.224, 0.225)
    frame = _image("smooth", 90, 160, np.random.default_rng(6))
    out = preprocess_frame(frame, 512)
    resized = resize_uint8_antialias_bilinear(frame, 512, 512).transpose(2, 0, 1).astype(np.float64)
    expected = (resized / 255.0 - np.reshape(IMAGENET_MEAN, (3, 1, 1))) / np.reshape(IMAGENET_STD, (3, 1, 1))
    assert out.shape == (1, 3, 512, 512)
    assert np.abs(out[0] - expected).max() <= 1e-5


FLOAT_PAIRS = [
    ((256, 256), (1080, 1920)),  # mask logits -> video size
    ((256, 256), (480, 640)),
    ((1024, 1024), (256, 256)),  # high-res mask -> low-res mask input
    ((1080, 1920), (1024, 1024)),  # user mask prompt -> model size
    ((300, 200), (1024, 1024)),
    ((256, 256), (256, 256)),
    ((256, 256), (100, 37)),
    ((1, 1), (5, 9)),
    ((7, 3), (1, 1)),
    ((105, 488), (390, 547)),
]


@pytest.mark.parametrize("antialias", [False, True], ids=["bilinear", "antialias"])
@pytest.mark.parametrize(("src", "dst"), FLOAT_PAIRS, ids=[f"{s[0]}x{s[1]}-{d[0]}x{d[1]}" for s, d in FLOAT_PAIRS])
def test_float_resizes_match_interpolate(src: tuple[int, int], dst: tuple[int, int], antialias: bool) -> None:
    rng = np.random.default_rng(src[0] + 31 * dst[1])
    x = (rng.standard_normal((2, 3, *src)) * 20).astype(np.float32)
    ref = F.interpolate(torch.from_numpy(x), size=dst, mode="bilinear", align_corners=False, antialias=antialias)
    fn = resize_bilinear_antialias if antialias else resize_bilinear
    ours = fn(x, *dst)
    assert ours.shape == (2, 3, *dst) and ours.dtype == np.float32
    data_range = float(x.max() - x.min())
    assert np.abs(ours - ref.numpy()).max() <= 1e-5 * data_range
    # Leading dims are batch dims: a bare (H, W) and a (N, H, W) stack give the same planes.
    np.testing.assert_array_equal(fn(x[0, 0], *dst), ours[0, 0])
    np.testing.assert_array_equal(fn(x[1], *dst), ours[1])


def test_binary_mask_prompt_resize() -> None:
    """The tracker thresholds an antialiased resize of a 0/1 mask at 0.5, as HF does."""
    rng = np.random.default_rng(8)
    mask = rng.random((720, 1280)) > 0.6
    ref = F.interpolate(
        torch.from_numpy(mask).float()[None, None],
        size=(1024, 1024),
        mode="bilinear",
        align_corners=False,
        antialias=True,
    )
    ours = resize_bilinear_antialias(mask, 1024, 1024)
    assert np.abs(ours - ref[0, 0].numpy()).max() <= 1e-5
    np.testing.assert_array_equal(ours >= 0.5, (ref[0, 0] >= 0.5).numpy())


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (np.zeros((480, 640), np.uint8), "shape"),
        (np.zeros((480, 640, 4), np.uint8), "shape"),
        (np.zeros((3, 480, 640), np.uint8), "channels-first"),
        (np.zeros((2, 480, 640, 3), np.uint8), "shape"),
        (np.zeros((480, 640, 3), np.float32), "dtype"),
        (np.zeros((480, 640, 3), np.uint16), "dtype"),
        (np.zeros((0, 640, 3), np.uint8), "empty"),
        (np.zeros((480, 0, 3), np.uint8), "empty"),
        ([[[0, 0, 0]]], "numpy array"),
    ],
    ids=["2d", "rgba", "chw", "batch", "float32", "uint16", "no-rows", "no-cols", "list"],
)
def test_preprocess_rejects_bad_frames(frame, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        preprocess_frame(frame, 1024)


@pytest.mark.parametrize("size", [0, -4, 10.5, "1024", True])
def test_preprocess_rejects_bad_image_size(size) -> None:
    with pytest.raises(ValueError, match="image_size"):
        preprocess_frame(np.zeros((8, 8, 3), np.uint8), size)


def test_resize_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="output size"):
        resize_bilinear(np.zeros((4, 4), np.float32), 0, 4)
    with pytest.raises(ValueError, match="empty"):
        resize_bilinear_antialias(np.zeros((0, 4), np.float32), 2, 2)
    with pytest.raises(ValueError, match="uint8"):
        resize_uint8_antialias_bilinear(np.zeros((4, 4, 3), np.float32), 2, 2)


def test_runtime_import_does_not_import_torch() -> None:
    code = "import sys, runtime.preprocess, runtime.resize; sys.exit('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"importing runtime pulled in torch (or failed): {done.stderr}"
