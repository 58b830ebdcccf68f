"""Generated clips and prompt scenarios, replayed on our runtime and on the oracles.

A scenario is a list of steps: ("prompt", frame_idx, obj_id, kwargs) or ("propagate", kwargs). Each
implementation turns the steps into its own API calls; results are compared per step, frame and object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgetam_export.clip import disc_mask


@dataclass(frozen=True)
class Scenario:
    name: str
    num_frames: int
    height: int
    width: int
    steps: tuple


def scenarios(height: int, width: int) -> dict[str, Scenario]:
    h, w = height, width
    return {
        s.name: s
        for s in (
            Scenario(
                "click_and_box_two_objects",
                6,
                h,
                w,
                (
                    ("prompt", 0, 1, {"points": [[0.30 * w, 0.35 * h]], "labels": [1]}),
                    ("prompt", 0, 2, {"box": [0.53 * w, 0.18 * h, 0.77 * w, 0.42 * h]}),
                    ("propagate", {}),
                ),
            ),
            Scenario(
                "correction_then_reverse",
                7,
                h,
                w,
                (
                    ("prompt", 3, 1, {"points": [[0.65 * w, 0.45 * h], [0.2 * w, 0.8 * h]], "labels": [1, 0]}),
                    ("propagate", {}),
                    ("prompt", 5, 1, {"points": [[0.66 * w, 0.55 * h]], "labels": [1]}),
                    ("propagate", {"start_frame_idx": 5}),
                    ("propagate", {"reverse": True}),
                ),
            ),
            Scenario(
                "reverse_then_forward",
                6,
                h,
                w,
                (
                    ("prompt", 3, 1, {"points": [[0.45 * w, 0.35 * h]], "labels": [1]}),
                    ("prompt", 3, 2, {"points": [[0.65 * w, 0.5 * h], [0.9 * w, 0.1 * h]], "labels": [1, 0]}),
                    ("propagate", {"reverse": True}),
                    ("propagate", {}),
                ),
            ),
            Scenario(
                "mask_prompts_vanish_and_return",
                7,
                h,
                w,
                (
                    ("prompt", 0, 7, {"mask": disc_mask(h, w, 0.5, 0.7, 0.12)}),
                    ("prompt", 2, 8, {"points": [[0.65 * w, 0.40 * h]], "labels": [1]}),
                    ("prompt", 3, 7, {"mask": np.zeros((h, w), bool)}),  # object 7 is gone on frame 3
                    ("propagate", {}),
                ),
            ),
        )
    }


Record = tuple[int, int, dict]  # (step index, frame index, {obj_id: mask logits [H, W]})


def run_ours(session, scenario: Scenario) -> list[Record]:
    records: list[Record] = []
    for i, step in enumerate(scenario.steps):
        if step[0] == "prompt":
            _, frame_idx, obj_id, kwargs = step
            results = [session.add_prompt(frame_idx, obj_id, **kwargs)]
        else:
            results = list(session.propagate(**step[1]))
        for r in results:
            records.append((i, r.frame_idx, {o: r.mask_logits[j] for j, o in enumerate(r.obj_ids)}))
    return records


def run_original(predictor, state, scenario: Scenario) -> list[Record]:
    import torch

    records: list[Record] = []
    with torch.inference_mode():
        for i, step in enumerate(scenario.steps):
            if step[0] == "prompt":
                _, frame_idx, obj_id, kwargs = step
                if "mask" in kwargs:
                    out = [predictor.add_new_mask(state, frame_idx, obj_id, kwargs["mask"])]
                else:
                    out = [predictor.add_new_points_or_box(state, frame_idx, obj_id, **kwargs)]
            else:
                kw = dict(step[1])
                if "max_frames" in kw:
                    kw["max_frame_num_to_track"] = kw.pop("max_frames")
                out = list(predictor.propagate_in_video(state, **kw))
            for frame_idx, obj_ids, masks in out:
                records.append((i, frame_idx, {o: masks[j, 0].float().numpy() for j, o in enumerate(obj_ids)}))
    return records


def run_hf(model, processor, frames: list[np.ndarray], scenario: Scenario) -> list[Record]:
    """Hugging Face EdgeTamVideoModel; records of propagation steps only (see test_hf_parity)."""
    import torch

    records: list[Record] = []
    session = processor.init_video_session(video=frames, inference_device="cpu", dtype=torch.float32)
    size = [[scenario.height, scenario.width]]
    with torch.inference_mode():
        for i, step in enumerate(scenario.steps):
            if step[0] == "prompt":
                _, frame_idx, obj_id, kwargs = step
                inputs = {}
                if "points" in kwargs:
                    inputs = {"input_points": [[kwargs["points"]]], "input_labels": [[kwargs["labels"]]]}
                if "box" in kwargs:
                    inputs["input_boxes"] = [[kwargs["box"]]]
                if "mask" in kwargs:
                    inputs = {"input_masks": kwargs["mask"]}
                processor.add_inputs_to_inference_session(
                    inference_session=session, frame_idx=frame_idx, obj_ids=obj_id, **inputs
                )
                model(inference_session=session, frame_idx=frame_idx)  # as the original runs a prompted frame
                continue
            kw = {"start_frame_idx": None, **step[1]}
            if "max_frames" in kw:
                kw["max_frame_num_to_track"] = kw.pop("max_frames")
            for out in model.propagate_in_video_iterator(session, **kw):
                masks = processor.post_process_masks([out.pred_masks], original_sizes=size, binarize=False)[0]
                records.append(
                    (i, out.frame_idx, {o: masks[j, 0].float().numpy() for j, o in enumerate(out.object_ids)})
                )
    return records


def propagation_only(records: list[Record], scenario: Scenario) -> list[Record]:
    return [r for r in records if scenario.steps[r[0]][0] == "propagate"]


def compare(ours: list[Record], ref: list[Record]) -> dict:
    """Per step, frame and object: IoU of foregrounds and max |diff| / std(reference)."""
    from tests.parity import iou, rel_diff

    assert [(s, f, sorted(m)) for s, f, m in ours] == [(s, f, sorted(m)) for s, f, m in ref], "different frames"
    ious, diffs = [], []
    for (_, _, mine), (_, _, theirs) in zip(ours, ref):
        for obj_id, logits in theirs.items():
            ious.append(iou(mine[obj_id], logits))
            diffs.append(rel_diff(mine[obj_id], logits, min_std=1.0))
    return {
        "frames": len(ref),
        "min_iou": min(ious),
        "mean_iou": float(np.mean(ious)),
        "max_rel_diff": max(diffs),
    }
