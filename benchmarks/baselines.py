"""What users run today, timed on the same clip, clicks and weights as this toolkit, in the same run.

* transformers' ``EdgeTamVideoModel`` in eager mode (fp32, CPU), through its ``Sam2VideoProcessor``;
* Meta's original ``SAM2VideoPredictor`` (the ``edgetam-dimos`` wheel), when installed.

Both are timed like this toolkit's runtime: the prompted first frame through its first propagated result,
then every tracked frame as its result is yielded. Both read and resize the whole clip before the first
prompt (their APIs do it up front), so that work is outside their timings; this toolkit's timings include it.
The original is given this toolkit's resized frames, as in the parity tests: its own loader resizes
differently, and synthetic weights amplify the difference.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .timing import summary_ms
from .tracking import object_clicks

TRANSFORMERS = "transformers eager"
ORIGINAL = "original (sam2)"


def available(name: str) -> str | None:
    """None if the baseline can run here, else why not."""
    needed = {TRANSFORMERS: ("transformers", "timm"), ORIGINAL: ("sam2", "hydra", "iopath", "timm")}[name]
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    return f"not installed ({', '.join(missing)} missing; pip install -e '.[test]')" if missing else None


def _timed(results: Iterator, start: float) -> Iterator[tuple[float, int, np.ndarray]]:
    """(seconds, frame, masks [objects, H, W] > 0) per yielded frame; the first includes the prompts."""
    for frame_idx, masks in results:
        now = time.perf_counter()
        yield now - start, frame_idx, masks
        start = time.perf_counter()


def _collect(timed: Iterator, objects: int) -> dict:
    timings, masks = [], {}
    for seconds, frame_idx, frame_masks in timed:
        timings.append(seconds)
        masks[frame_idx] = frame_masks
    return {"objects": objects, "first_frame_ms": timings[0] * 1e3, **summary_ms(timings[1:]), "masks": masks}


def run_transformers(model, processor, frames: Sequence[np.ndarray], objects: int) -> dict:
    import torch

    height, width = frames[0].shape[:2]
    session = processor.init_video_session(video=list(frames), inference_device="cpu", dtype=torch.float32)

    def results() -> Iterator[tuple[int, np.ndarray]]:
        for obj, (x, y) in enumerate(object_clicks(width, height, objects), start=1):
            processor.add_inputs_to_inference_session(
                inference_session=session, frame_idx=0, obj_ids=obj, input_points=[[[[x, y]]]], input_labels=[[[1]]]
            )
            model(inference_session=session, frame_idx=0)
        for out in model.propagate_in_video_iterator(session, start_frame_idx=0):
            masks = processor.post_process_masks([out.pred_masks], original_sizes=[[height, width]], binarize=False)[0]
            yield out.frame_idx, masks[:, 0].float().numpy() > 0

    with torch.inference_mode():
        return _collect(_timed(results(), time.perf_counter()), objects)


def run_original(predictor, jpeg_folder: Path, frames: Sequence[np.ndarray], objects: int) -> dict:
    import torch

    height, width = frames[0].shape[:2]
    from runtime.preprocess import preprocess_frame

    size = predictor.image_size
    with torch.inference_mode():
        state = predictor.init_state(str(jpeg_folder))
        # Its own loader resizes differently (PIL, no antialias on uint8): give it the pixels every other
        # side sees, as the parity tests do, so that masks can be compared.
        state["images"] = torch.from_numpy(np.concatenate([preprocess_frame(f, size) for f in frames]))
        state["cached_features"] = {}

        def results() -> Iterator[tuple[int, np.ndarray]]:
            for obj, (x, y) in enumerate(object_clicks(width, height, objects), start=1):
                predictor.add_new_points_or_box(state, 0, obj, points=[[x, y]], labels=[1])
            for frame_idx, _, masks in predictor.propagate_in_video(state):
                yield frame_idx, masks[:, 0].float().numpy() > 0

        return _collect(_timed(results(), time.perf_counter()), objects)


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
