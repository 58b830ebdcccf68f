"""End to end: our runtime (torch backend) against the original EdgeTAM video predictor, same weights,
same pixels, every prompt kind. Bars: min IoU ≥ 0.99 over every frame and object, max |diff|/std ≤ 1e-2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from edgetam_export.clip import synthetic_clip
from runtime import Tracker
from runtime.backends.torch import TorchBackend
from tests.conftest import SEED, SMALL
from tests.scenarios import compare, jpeg_roundtrip, run_original, run_ours, scenarios

REPORT = Path("build/parity")


def _run_pair(model, predictor, scenario, tmp: Path) -> dict:
    frames = jpeg_roundtrip(synthetic_clip(scenario.num_frames, scenario.height, scenario.width), tmp)
    tracker = Tracker(TorchBackend(model, _weights()))
    ours = run_ours(tracker.start(frames), scenario)
    state = predictor.init_state(video_path=str(tmp))
    ref = run_original(predictor, state, scenario)
    return compare(ours, ref)


def _weights():
    from reference_model import WeightsInfo

    return WeightsInfo("synthetic", seed=SEED)


@pytest.mark.parametrize("name", list(scenarios(SMALL, SMALL)))
def test_against_original(name, small_model, original_small, tmp_path):
    torch.set_num_threads(2)
    figures = _run_pair(small_model, original_small, scenarios(SMALL, SMALL)[name], tmp_path)
    REPORT.mkdir(parents=True, exist_ok=True)
    (REPORT / f"original_{SMALL}_{name}.json").write_text(json.dumps(figures, indent=2))
    print(name, figures)
    assert figures["min_iou"] >= 0.99, figures
    assert figures["max_rel_diff"] <= 1e-2, figures
