"""End to end: our runtime (torch backend) against the original EdgeTAM video predictor, same weights,
same pixels, every prompt kind. Bars: min IoU ≥ 0.99 over every frame and object, max |diff|/std ≤ 1e-2.

The original reads a JPEG folder and resizes with PIL bicubic; we reproduce transformers' resize. So
both sides get the decoded JPEG pixels, and for frames that need resizing the original's preprocessed
frames are replaced by ours: the comparison is of the tracker, not of two resampling filters.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from benchmarks.oracles import jpeg_roundtrip, original_state
from edgetam_export.clip import synthetic_clip
from reference_model import EdgeTamConfig, WeightsInfo, synthetic_model
from runtime import Tracker
from runtime.backends.torch import TorchBackend
from tests.conftest import SEED, SMALL
from tests.scenarios import compare, run_original, run_ours, scenarios

REPORT = Path("build/parity")


def run_against_original(model, predictor, scenario, folder: Path, tracker=None, tag: str = "torch") -> dict:
    """Our runtime (the torch backend on `model`, or `tracker`) against the original predictor."""
    torch.set_num_threads(2)
    frames = jpeg_roundtrip(synthetic_clip(scenario.num_frames, scenario.height, scenario.width), folder)
    tracker = tracker or Tracker(TorchBackend(model, WeightsInfo("synthetic", seed=SEED)))
    ours = run_ours(tracker.start(frames), scenario)
    state = original_state(predictor, folder, frames)
    size = model.cfg.image_size
    ref = run_original(predictor, state, scenario)
    figures = compare(ours, ref)
    REPORT.mkdir(parents=True, exist_ok=True)
    tag = f"{tag}_vs_original_{size}_{scenario.name}_{scenario.height}x{scenario.width}"
    (REPORT / f"{tag}.json").write_text(json.dumps(figures, indent=2))
    print(tag, figures)
    return figures


def check(figures: dict) -> None:
    assert figures["min_iou"] >= 0.99, figures
    assert figures["max_rel_diff"] <= 1e-2, figures


@pytest.mark.parametrize("name", list(scenarios(SMALL, SMALL)))
def test_against_original(name, small_model, original_small, tmp_path):
    check(run_against_original(small_model, original_small, scenarios(SMALL, SMALL)[name], tmp_path))


@pytest.mark.parametrize("name", ["correction_then_reverse", "mask_prompts_vanish_and_return"])
def test_non_square_frames(name, small_model, original_small, tmp_path):
    """360×640 frames: prompt scaling, mask-prompt resizing and mask upsampling to the frame size."""
    check(run_against_original(small_model, original_small, scenarios(360, 640)[name], tmp_path))


def test_object_vanishes_and_returns(original_small, tmp_path):
    """Seed 3 makes object scores cross zero on their own: present, absent for frames, present again."""
    model, _ = synthetic_model(3, EdgeTamConfig(image_size=SMALL))
    original_small.load_state_dict(model.state_dict())
    try:
        scenario = scenarios(SMALL, SMALL)["click_and_box_two_objects"]
        session = Tracker(TorchBackend(model, WeightsInfo("synthetic", seed=3))).start(
            synthetic_clip(scenario.num_frames, SMALL, SMALL)
        )
        session.add_prompt(0, 1, points=[[0.3 * SMALL, 0.35 * SMALL]], labels=[1])
        scores = [float(r.object_score_logits[0]) for r in session.propagate()]
        assert scores[0] > 0 and min(scores) < 0 and scores[-1] > 0, scores  # the fixture shows a return
        check(run_against_original(model, original_small, scenario, tmp_path, tag="torch_seed3"))
    finally:
        original_small.load_state_dict(synthetic_model(SEED, EdgeTamConfig(image_size=SMALL))[0].state_dict())


def test_real_size_1024(tmp_path):
    """The real EdgeTAM input size, two objects (click and box), forward tracking."""
    from benchmarks.oracles import build_original_predictor

    model, _ = synthetic_model(SEED)
    predictor = build_original_predictor(1024)
    predictor.load_state_dict(model.state_dict(), strict=True)
    scenario = scenarios(1024, 1024)["click_and_box_two_objects"]
    check(run_against_original(model, predictor, scenario, tmp_path))
