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
TINY = 256  # Core ML exports run through the numpy interpreter
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
def tiny_synthetic():
    """(model, weights info) of the synthetic model at image_size 256, drawn once: the size of the Core ML
    exports the interpreter runs and of the fuzz, fault and concurrency tests."""
    return synthetic_model(SEED, EdgeTamConfig(image_size=TINY))


@pytest.fixture(scope="session")
def tiny_model(tiny_synthetic):
    return tiny_synthetic[0]


@pytest.fixture(scope="session")
def tiny_stages(tiny_model) -> Stages:
    return Stages(tiny_model).eval()


@pytest.fixture(scope="session")
def tiny_coreml_exports(tiny_model, tmp_path_factory) -> dict:
    """The 256² model exported once per session to Core ML in fp16 and in fp32 (the fp32 folder also
    holds the ONNX export, for tracking comparisons): {"fp16": folder, "fp32": folder}."""
    import time

    from edgetam_export.export import ExportOptions, export_all
    from reference_model import WeightsInfo

    folders = {}
    for precision in ("fp16", "fp32"):
        start = time.perf_counter()
        folders[precision] = tmp_path_factory.mktemp(f"coreml_{precision}") / "export"
        formats = ("coreml", "onnx") if precision == "fp32" else ("coreml",)
        options = ExportOptions(formats=formats, precision={"coreml": precision, "onnx": "fp32"})
        export_all(tiny_model, WeightsInfo("synthetic", seed=SEED), folders[precision], options)
        print(f"export {precision} ({', '.join(formats)}, {TINY}²): {time.perf_counter() - start:.0f} s")
    return folders


@pytest.fixture(scope="session")
def onnx_export_256(tiny_synthetic, tmp_path_factory):
    """The 256² synthetic model, its weights info and its ONNX export folder, made once per session
    (the fuzz, fault and concurrency tests drive both backends with it)."""
    from edgetam_export.export import ExportOptions, export_all

    model, info = tiny_synthetic
    folder = tmp_path_factory.mktemp("onnx256") / "export"
    export_all(model, info, folder, ExportOptions(formats=("onnx",)))
    return model, info, folder
