"""Core ML export: every stage (and the RGB-image image encoder) exported in fp16 at 512², checked as a
spec against the registry; the float16 precision estimate of every stage; the coreml backend's platform
error. Core ML predictions run only on macOS; elsewhere those tests are skipped.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from edgetam_export import to_coreml
from edgetam_export.coreml_targets import deployment_target
from edgetam_export.examples import example_inputs
from edgetam_export.export import IMAGENET_MEAN, IMAGENET_STD, size_bytes
from edgetam_export.metrics import cosine, psnr
from reference_model.attention import float16_safe
from runtime.contract import STAGES, model_sizes
from runtime.errors import InputError

CAPACITIES = {"K": 4, "N": 19, "P": 16}
MAX_OBJECTS = 4
WEIGHTS = {"kind": "synthetic", "seed": 1}
METADATA = {
    "author": "edgetam-export tests",
    "license": "Apache-2.0",
    "version": "0.0.test",
    "weights": json.dumps(WEIGHTS),
}
FP16_MIN_PSNR = 35.0
FP16_MIN_COSINE = 0.999
RGB = "image_encoder_rgb"
on_macos = pytest.mark.skipif(sys.platform != "darwin", reason="Core ML executes only on macOS")


@pytest.fixture(scope="module")
def sizes(small_stages) -> dict[str, int]:
    return {**model_sizes(small_stages.cfg.to_dict()), **CAPACITIES}


@pytest.fixture(scope="module")
def packages(small_stages, sizes, tmp_path_factory) -> dict[str, Path]:
    """Every stage exported once (fp16, 512²), plus the RGB-image variant; prints time and size."""
    folder = tmp_path_factory.mktemp("coreml")
    paths = {}
    for name, stage in STAGES.items():
        start = time.perf_counter()
        paths[name] = folder / f"{name}.mlpackage"
        to_coreml.export_coreml(getattr(small_stages, name), stage, sizes, MAX_OBJECTS, paths[name], "fp16", METADATA)
        print(f"{name}: {time.perf_counter() - start:.1f} s, {size_bytes(paths[name]) / 1e6:.2f} MB")
    start = time.perf_counter()
    paths[RGB] = folder / f"{RGB}.mlpackage"
    to_coreml.export_image_encoder_image_input(
        small_stages.image_encoder, sizes, paths[RGB], "fp16", METADATA, IMAGENET_MEAN, IMAGENET_STD
    )
    print(f"{RGB}: {time.perf_counter() - start:.1f} s, {size_bytes(paths[RGB]) / 1e6:.2f} MB")
    return paths


def _spec(path: Path):
    import coremltools as ct

    return ct.utils.load_spec(str(path))


@pytest.mark.parametrize("name", [*STAGES, RGB])
def test_package_matches_registry(packages, sizes, name):
    stage = STAGES["image_encoder" if name == RGB else name]
    assert to_coreml.check_package(packages[name], stage, sizes) == []


@pytest.mark.parametrize("name", list(STAGES))
def test_names_shapes_dtypes(packages, sizes, name):
    spec = _spec(packages[name])
    stage = STAGES[name]
    assert [f.name for f in spec.description.input] == stage.input_names
    assert [f.name for f in spec.description.output] == stage.output_names
    batch = to_coreml.package_batch(packages[name])
    for feature, tensor in zip(spec.description.input, stage.inputs, strict=True):
        array = feature.type.multiArrayType
        assert to_coreml._array_dtype_name(array) == "FLOAT32"
        dims = to_coreml._feature_dims(array)
        for (lo, hi), want in zip(dims, tensor.shape, strict=True):
            if want == "B":
                assert (lo, hi) == (1, batch["max"])
            else:
                size = want if isinstance(want, int) else sizes[want]
                assert (lo, hi) == (size, size), (feature.name, dims, tensor.shape)
    for feature in spec.description.output:
        assert to_coreml._array_dtype_name(feature.type.multiArrayType) == "FLOAT32"


def test_metadata_filled(packages, sizes):
    for name, path in packages.items():
        spec = _spec(path)
        meta = spec.description.metadata
        assert (meta.author, meta.license, meta.versionString) == ("edgetam-export tests", "Apache-2.0", "0.0.test")
        assert meta.shortDescription
        assert all(f.shortDescription for f in (*spec.description.input, *spec.description.output)), name
        user = dict(meta.userDefined)
        assert json.loads(user["edgetam.weights"]) == WEIGHTS
        contract = json.loads(user["edgetam.contract"])
        stage = STAGES["image_encoder" if name == RGB else name]
        assert contract["stage"] == stage.name
        assert [t["name"] for t in contract["outputs"]] == stage.output_names
        shapes = {t["name"]: t["shape"] for t in contract["inputs"]}
        if name == "memory_attention":
            assert shapes["cond_mem"] == ["B", CAPACITIES["K"], sizes["T"], sizes["M"]]
            assert shapes["obj_ptrs"] == ["B", CAPACITIES["N"], sizes["C"]]
        if name == "mask_decoder":
            assert shapes["point_coords"] == ["B", CAPACITIES["P"], 2]
        assert user["edgetam.precision"] == "fp16"


def test_batch_axis(packages):
    """B is a range 1…max_objects where the conversion supports it; a fixed B records why."""
    for name in ("memory_attention", "mask_decoder", "mask_prompt"):
        assert to_coreml.package_batch(packages[name]) == {"min": 1, "max": MAX_OBJECTS}, name
    assert to_coreml.package_batch(packages["image_encoder"]) == {"min": 1, "max": 1}
    encoder = to_coreml.package_batch(packages["memory_encoder"])
    assert encoder["max"] == MAX_OBJECTS or "rank" in encoder["fixed_because"], encoder


def test_no_op_beyond_ios17(packages):
    for name, path in packages.items():
        spec = _spec(path)
        assert spec.specificationVersion <= 8, name  # iOS 17
        assert to_coreml._ops_after_target(spec, deployment_target("iOS17")) == [], name
        assert {f.opset for f in spec.mlProgram.functions.values()} == {"CoreML7"}, name
    encoder_ops = to_coreml.op_types(packages["image_encoder"])
    assert "conv" in encoder_ops
    # The re-parameterized mixer kernels are constants (RepDepthwiseMixer.single_conv), not computed per call.
    assert "scatter" not in encoder_ops, encoder_ops


def test_rgb_image_input(packages, sizes):
    from coremltools.proto import FeatureTypes_pb2

    spec = _spec(packages[RGB])
    (image,) = spec.description.input
    assert image.name == "image" and image.type.WhichOneof("Type") == "imageType"
    image_type = image.type.imageType
    assert (image_type.width, image_type.height) == (sizes["S"], sizes["S"])
    assert FeatureTypes_pb2.ImageFeatureType.ColorSpace.Name(image_type.colorSpace) == "RGB"
    assert [f.name for f in spec.description.output] == STAGES["image_encoder"].output_names
    preprocessing = json.loads(spec.description.metadata.userDefined["edgetam.preprocessing"])
    assert preprocessing["mean"] == list(IMAGENET_MEAN) and preprocessing["std"] == list(IMAGENET_STD)


def test_rgb_wrapper_normalizes():
    """The RGB variant's in-graph normalization: 0…255 pixels → /255, then (x − mean)/std per channel."""
    wrapped = to_coreml._NormalizedInput(torch.nn.Identity(), IMAGENET_MEAN, IMAGENET_STD)
    pixels = torch.rand(1, 3, 8, 8) * 255
    mean = torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
    torch.testing.assert_close(wrapped(pixels), (pixels / 255 - mean) / std, rtol=1e-5, atol=1e-5)


def test_check_package_finds_problems(packages, sizes):
    """The checker is not vacuous: a wrong stage, capacity or target is reported."""
    wrong_stage = to_coreml.check_package(packages["mask_prompt"], STAGES["memory_encoder"], sizes)
    assert any("inputs" in p for p in wrong_stage)
    wrong_capacity = to_coreml.check_package(packages["mask_decoder"], STAGES["mask_decoder"], {**sizes, "P": 5})
    assert any("point_coords" in p for p in wrong_capacity)
    assert to_coreml.check_package(packages["mask_prompt"].with_name("missing.mlpackage"), STAGES["mask_prompt"], sizes)


def _stage_outputs(module, stage: str, inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    with torch.no_grad():
        out = module(*[inputs[n] for n in STAGES[stage].input_names])
    return [out] if isinstance(out, torch.Tensor) else list(out)


def _worst_modules(stage_module, half_module, inputs: dict[str, torch.Tensor], stage: str, count: int = 3):
    """Submodules whose float16 outputs lose the most (lowest PSNR): where the precision goes."""
    seen: dict[str, dict[str, torch.Tensor]] = {"fp32": {}, "fp16": {}}

    def hook(key, name):
        def store(_module, _args, out):
            if isinstance(out, torch.Tensor):
                seen[key][name] = out.detach().float()

        return store

    handles = []
    for key, module in (("fp32", stage_module), ("fp16", half_module)):
        for name, sub in module.named_modules():
            if name:
                handles.append(sub.register_forward_hook(hook(key, name)))
    _stage_outputs(stage_module, stage, inputs)
    _stage_outputs(half_module, stage, {k: v.half() for k, v in inputs.items()})
    for handle in handles:
        handle.remove()
    scores = [(psnr(seen["fp16"][n], ref), n) for n, ref in seen["fp32"].items() if n in seen["fp16"]]
    return sorted(scores)[:count]


def test_fp16_estimate(small_stages, sizes):
    """Each stage in float16 against float32 (CPU, module and inputs `.half()`): PSNR ≥ 35 dB, cosine ≥ 0.999
    per output. CPU float16 kernels accumulate in float32, as Core ML's GPU does; the ANE may lose more."""
    half = copy.deepcopy(small_stages).half()
    rows, failures = [], []
    with float16_safe(half):  # as the exporters do for float16 graphs
        for stage in STAGES:
            inputs = example_inputs(stage, {**sizes, "B": 2}, seed=7)
            ref = _stage_outputs(getattr(small_stages, stage), stage, inputs)
            got = _stage_outputs(getattr(half, stage), stage, {k: v.half() for k, v in inputs.items()})
            for name, r, g in zip(STAGES[stage].output_names, ref, got, strict=True):
                assert torch.isfinite(g).all(), f"{stage}.{name} overflows in float16"
                p, c = psnr(g, r), cosine(g, r)
                rows.append(f"{stage:17} {name:20} PSNR {p:6.1f} dB  cosine {c:.6f}")
                if p < FP16_MIN_PSNR or c < FP16_MIN_COSINE:
                    where = _worst_modules(getattr(small_stages, stage), getattr(half, stage), inputs, stage)
                    failures.append(f"{stage}.{name}: PSNR {p:.1f}, cosine {c:.6f}; worst submodules {where}")
    print("\n".join(rows))
    assert not failures, failures


def test_backend_needs_macos(tmp_path):
    """On Linux/Windows the coreml backend says that Core ML needs macOS and what to use instead."""
    from runtime.backends.coreml import CoreMLBackend, require_macos

    with pytest.raises(InputError, match=r"macOS.*--backend onnx"):
        require_macos("linux")
    if sys.platform != "darwin":
        with pytest.raises(InputError, match=r"macOS.*--backend onnx"):
            CoreMLBackend.from_folder(tmp_path)


def test_backend_module_imports_no_torch():
    code = (
        "import sys; import runtime.backends.coreml; "
        "bad = [m for m in ('torch', 'coremltools') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


class _FakeModel:
    """Stands in for a Core ML model: checks the batch it is given, returns 10 × the batched input."""

    def __init__(self, max_batch: int) -> None:
        self.max_batch, self.calls = max_batch, 0

    def predict(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls += 1
        assert feed["a"].shape[0] <= self.max_batch and feed["shared"].shape[0] == 1
        return {"out": feed["a"] * 10}


@pytest.mark.parametrize("max_batch, calls", [(1, 5), (2, 3), (8, 1)])
def test_backend_calls_per_object_when_batch_is_fixed(max_batch, calls):
    """A stage exported with B fixed at 1 (or a smaller range) is called in chunks; results are stacked."""
    from runtime.backends.coreml import CoreMLBackend
    from runtime.backends.packages import PackageContract

    backend = CoreMLBackend.__new__(CoreMLBackend)
    model = _FakeModel(max_batch)
    backend.models = {"s": model}
    shapes = {"a": (None, 3), "shared": (1, 2)}
    backend.contracts = {"s": PackageContract("s", ["a", "shared"], ["out"], shapes, {"a"}, max_batch)}
    a = np.arange(5 * 3, dtype=np.float32).reshape(5, 3)
    out = backend.run("s", {"a": a, "shared": np.zeros((1, 2), np.float32), "unused": a})
    np.testing.assert_array_equal(out["out"], a * 10)
    assert model.calls == calls


def test_frontend_fixes_convert_and_restore():
    """The coremltools 9.0 gaps (numpy ≥ 2.4 casts, new_ones, `|`) convert, and the registry is restored."""
    import coremltools as ct
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY

    class Module(torch.nn.Module):
        def forward(self, x):
            ones = x.new_ones(x.shape[0], 3)
            flags = (x[:, :3, 0, 0] > 0) | (x[:, 1:, 0, 0] < 0)
            tokens = x.reshape(x.shape[0], int(x.shape[1] * x.shape[2]))  # aten::Int of a 1-element tensor
            return tokens[:, :3] + ones + flags.float()

    before = dict(_TORCH_OPS_REGISTRY.name_to_func_mapping)
    traced = to_coreml._trace(Module(), (torch.randn(1, 4, 1, 1),))
    shape = (ct.RangeDim(1, 4, default=1), 4, 1, 1)
    inputs = [ct.TensorType(name="x", shape=shape, dtype=np.float32)]
    outputs = [ct.TensorType(name="y", dtype=np.float32)]
    mlmodel = to_coreml._convert(traced, inputs, outputs, ct.precision.FLOAT32)
    assert [f.name for f in mlmodel.get_spec().description.output] == ["y"]
    assert _TORCH_OPS_REGISTRY.name_to_func_mapping == before


def _write_manifest(folder: Path, packages: dict[str, Path], small_stages, sizes) -> None:
    """A minimal export folder: the packages plus the manifest entries the backend reads."""
    import shutil

    (folder / "coreml").mkdir(parents=True)
    stages = {}
    for name in STAGES:
        shutil.copytree(packages[name], folder / "coreml" / packages[name].name)
        inputs = [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype} for t in STAGES[name].inputs]
        stages[name] = {"file": f"coreml/{packages[name].name}", "inputs": inputs}
    manifest = {
        "format_version": 1,
        "model": {"config": small_stages.cfg.to_dict()},
        "weights": WEIGHTS,
        "formats": {"coreml": {"capacities": {"B": [1, MAX_OBJECTS], **CAPACITIES}, "stages": stages}},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))


@on_macos
def test_coreml_predictions_match_torch(packages, small_stages, sizes, tmp_path):
    """Core ML (fp16) against the torch stages, through the backend, with 3 objects per call."""
    from runtime.backends.coreml import CoreMLBackend

    _write_manifest(tmp_path / "export", packages, small_stages, sizes)
    backend = CoreMLBackend.from_folder(tmp_path / "export")
    assert backend.capacities == CAPACITIES
    failures = []
    for stage in STAGES:
        inputs = example_inputs(stage, {**sizes, "B": 3}, seed=11)
        ref = _stage_outputs(getattr(small_stages, stage), stage, inputs)
        got = backend.run(stage, {k: v.numpy() for k, v in inputs.items()})
        for name, r in zip(STAGES[stage].output_names, ref, strict=True):
            assert got[name].shape == tuple(r.shape), (stage, name)
            p, c = psnr(got[name], r), cosine(got[name], r)
            print(f"coreml {stage:17} {name:20} PSNR {p:6.1f} dB  cosine {c:.6f}")
            if p < FP16_MIN_PSNR or c < FP16_MIN_COSINE:
                failures.append(f"{stage}.{name}: PSNR {p:.1f}, cosine {c:.6f}")
    assert not failures, failures


@on_macos
def test_coreml_rgb_input_matches_torch(packages, small_stages, sizes):
    import coremltools as ct
    from PIL import Image

    model = ct.models.MLModel(str(packages[RGB]))
    pixels = (np.random.default_rng(3).random((sizes["S"], sizes["S"], 3)) * 255).astype(np.uint8)
    got = model.predict({"image": Image.fromarray(pixels, "RGB")})
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255
    x = (x - torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
    ref = _stage_outputs(small_stages.image_encoder, "image_encoder", {"image": x})
    for name, r in zip(STAGES["image_encoder"].output_names, ref, strict=True):
        assert psnr(got[name], r) >= FP16_MIN_PSNR and cosine(got[name], r) >= FP16_MIN_COSINE, name
