"""Shared fixtures: one synthetic EdgeTAM per session, loaded into our stages and into the oracles.

Stage parity runs at image_size 512 (every derived size follows; both oracles accept it) to keep the
suite fast; end-to-end tests also run at the real 1024.
"""

from __future__ import annotations

import pytest
import torch

from reference_model import EdgeTamConfig, Stages, synthetic_model
from reference_model.hf_keys import original_to_hf

SMALL = 512
SEED = 1  # objects are present on most frames with this seed, so masks are compared, not placeholders


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def small_model():
    model, _ = synthetic_model(SEED, EdgeTamConfig(image_size=SMALL))
    return model


@pytest.fixture(scope="session")
def small_stages(small_model) -> Stages:
    return Stages(small_model).eval()


@pytest.fixture(scope="session")
def original_small(small_model):
    from benchmarks.oracles import build_original_predictor

    predictor = build_original_predictor(SMALL)
    predictor.load_state_dict(small_model.state_dict(), strict=True)
    return predictor


@pytest.fixture(scope="session")
def hf_checkpoint(small_model, tmp_path_factory):
    """The synthetic weights as a Hugging Face checkpoint folder (config.json + model.safetensors)."""
    from benchmarks.oracles import build_hf_model

    model, processor = build_hf_model(SMALL)
    model.load_state_dict(original_to_hf(small_model.state_dict()), strict=True)
    folder = tmp_path_factory.mktemp("hf_checkpoint")
    model.save_pretrained(folder)
    return folder, model, processor


@pytest.fixture(scope="session")
def onnx_export_256(tmp_path_factory):
    """A synthetic model at image_size 256 (seed SEED) and its ONNX export folder, made once per session
    (the fuzz, fault and concurrency tests drive both backends with it)."""
    from edgetam_export.export import ExportOptions, export_all

    model, info = synthetic_model(SEED, EdgeTamConfig(image_size=256))
    folder = tmp_path_factory.mktemp("onnx256") / "export"
    export_all(model, info, folder, ExportOptions(formats=("onnx",)))
    return model, info, folder
