"""What users run today, timed on the same clip, clicks and weights as this toolkit, in the same run.

* transformers' ``EdgeTamVideoModel`` in eager mode (fp32, CPU), through its ``Sam2VideoProcessor``;
* Meta's original ``SAM2VideoPredictor`` (the ``edgetam-dimos`` wheel), when installed.

Each is a generator of timed frames, like this toolkit's session (`tracking.timed_session`): an untimed
warm-up session first, then the prompted first frame through its first propagated result, then every
tracked frame as its result is yielded (mask post-processing included). The benchmark advances them one
frame in turn. Both read and resize the whole clip before the first prompt (their APIs do it up front),
so that work is outside their timings; this toolkit's timings include it. The original is given this
toolkit's resized frames, as in the parity tests: its own loader resizes differently, and synthetic
weights amplify the difference.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from .tracking import object_clicks

TRANSFORMERS = "transformers eager"
ORIGINAL = "original (sam2)"

Frames = Iterator[tuple[int, np.ndarray]]  # (frame index, masks [objects, H, W] > 0)


def available(name: str) -> str | None:
    """None if the baseline can run here, else why not."""
    needed = {TRANSFORMERS: ("transformers", "timm"), ORIGINAL: ("sam2", "hydra", "iopath", "timm")}[name]
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    return f"not installed ({', '.join(missing)} missing; pip install -e '.[test]')" if missing else None


def _timed(session: Callable[[Sequence[np.ndarray]], Frames], frames: Sequence[np.ndarray], warmup: int) -> Iterator:
    """Warm up on the first frames (untimed; first calls build kernels), then yield (seconds, frame index,
    masks, None) per frame of a session over all frames; the first item includes the prompts."""
    for _ in session(frames[: warmup + 1]):
        pass
    results = session(frames)
    start = time.perf_counter()
    for frame_idx, masks in results:
        yield time.perf_counter() - start, frame_idx, masks, None
        start = time.perf_counter()


def transformers_session(model, processor, frames: Sequence[np.ndarray], objects: int, warmup: int = 2) -> Iterator:
    import torch

    height, width = frames[0].shape[:2]
    clicks = object_clicks(width, height, objects)

    def session(clip: Sequence[np.ndarray]) -> Frames:
        with torch.inference_mode():
            state = processor.init_video_session(video=list(clip), inference_device="cpu", dtype=torch.float32)
        for obj, (x, y) in enumerate(clicks, start=1):
            processor.add_inputs_to_inference_session(
                inference_session=state, frame_idx=0, obj_ids=obj, input_points=[[[[x, y]]]], input_labels=[[[1]]]
            )
            with torch.inference_mode():
                model(inference_session=state, frame_idx=0)
        outputs = model.propagate_in_video_iterator(state, start_frame_idx=0)
        while True:
            with torch.inference_mode():  # not held across a yield: the other sessions run in between
                out = next(outputs, None)
                if out is None:
                    return
                masks = processor.post_process_masks([out.pred_masks], original_sizes=[[height, width]], binarize=False)
            yield out.frame_idx, masks[0][:, 0].float().numpy() > 0

    return _timed(session, frames, warmup)


def original_session(
    predictor, jpeg_folder: Path, frames: Sequence[np.ndarray], objects: int, warmup: int = 2
) -> Iterator:
    import torch

    from .oracles import original_state

    height, width = frames[0].shape[:2]
    clicks = object_clicks(width, height, objects)

    def session(clip: Sequence[np.ndarray]) -> Frames:
        with torch.inference_mode():
            state = original_state(predictor, jpeg_folder, clip)
            for obj, (x, y) in enumerate(clicks, start=1):
                predictor.add_new_points_or_box(state, 0, obj, points=[[x, y]], labels=[1])
            outputs = predictor.propagate_in_video(state)
        while True:
            with torch.inference_mode():
                out = next(outputs, None)
            if out is None:
                return
            frame_idx, _, masks = out
            yield frame_idx, masks[:, 0].float().numpy() > 0

    return _timed(session, frames, warmup)


def build(name: str, state_dict: dict, image_size: int, threads: int):
    """The baseline's model with our weights (loaded by name; every key must match)."""
    import torch

    from reference_model.hf_keys import original_to_hf

    from .oracles import build_hf_model, build_original_predictor

    torch.set_num_threads(threads)
    if name == TRANSFORMERS:
        model, processor = build_hf_model(image_size)
        model.load_state_dict(original_to_hf(state_dict), strict=True)
        return model, processor
    predictor = build_original_predictor(image_size)
    predictor.load_state_dict(state_dict, strict=True)
    return predictor


def mask_agreement(ours: dict[int, np.ndarray], theirs: dict[int, np.ndarray]) -> dict[str, float]:
    """IoU of the foregrounds per frame and object (1 where both are empty): min and mean."""
    if sorted(ours) != sorted(theirs):
        raise AssertionError(f"different frames: {sorted(ours)} vs {sorted(theirs)}")
    ious = []
    for frame_idx, mine in ours.items():
        for a, b in zip(mine, theirs[frame_idx], strict=True):
            union = np.logical_or(a, b).sum()
            ious.append(1.0 if union == 0 else float(np.logical_and(a, b).sum() / union))
    return {"min_iou": min(ious), "mean_iou": float(np.mean(ious))}
