"""Damaged and hostile checkpoints in both formats (`edgetam.pt` {"model": state_dict}; an HF folder with
config.json + model.safetensors), through `edgetam-export info` and `export`: each ends in one message
naming the file and what is wrong, a non-zero exit status, no traceback, and nothing written."""

from __future__ import annotations

import argparse
import json
import struct

import pytest
import torch
from safetensors.torch import save_file

from reference_model.hf_keys import original_to_hf
from tests.faults.mutate import assert_clean, assert_refused, cli, count, flip_bits, truncate

FOURIER = ("shared_image_embedding.positional_embedding", "prompt_encoder.shared_embedding.positional_embedding")


@pytest.fixture(scope="module")
def state(onnx_export_256) -> dict[str, torch.Tensor]:
    model, _, _ = onnx_export_256
    return {k: v.clone() for k, v in model.state_dict().items()}


def write_pt(path, state, wrap: bool = True):
    torch.save({"model": state} if wrap else state, path)
    return path


def write_hf(folder, state, config: bytes | None = None):
    folder.mkdir()
    save_file(original_to_hf(state), str(folder / "model.safetensors"))
    (folder / "config.json").write_bytes(config or json.dumps({"model_type": "edgetam_video"}).encode())
    return folder


def first_float(state) -> str:
    return next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 4 and "running" not in k)


def test_the_unmutated_checkpoints_load(state, tmp_path) -> None:
    for path in (write_pt(tmp_path / "edgetam.pt", state), write_hf(tmp_path / "hf", state)):
        result = cli("info", "--checkpoint", path)
        assert result.exit_code == 0, result.output


PT_MUTATIONS = {
    "truncated_half": (lambda p, s: truncate(write_pt(p, s), 0.5), "damaged"),
    "truncated_header": (lambda p, s: truncate(write_pt(p, s), 64), "damaged"),
    "empty_file": (lambda p, s: p.write_bytes(b""), "damaged"),
    "text_file": (lambda p, s: p.write_text("not a checkpoint\n" * 20), "damaged"),
    "pickled_object": (
        lambda p, s: torch.save({"model": s, "args": argparse.Namespace(lr=1)}, p),
        "Python objects besides tensors",
    ),
    "not_a_mapping": (lambda p, s: torch.save([1, 2, 3], p), "does not hold a state dict"),
    "int_weights": (
        lambda p, s: write_pt(p, {**s, first_float(s): s[first_float(s)].long()}),
        "not floating point",
    ),
    "nan_weights": (
        lambda p, s: write_pt(p, {**s, first_float(s): s[first_float(s)].clone().fill_(float("nan"))}),
        "NaN or infinite",
    ),
    "inf_weights": (
        lambda p, s: write_pt(p, {**s, first_float(s): s[first_float(s)].clone().fill_(float("inf"))}),
        "NaN or infinite",
    ),
    "wrong_shape": (lambda p, s: write_pt(p, {**s, first_float(s): s[first_float(s)][:1]}), "shape mismatches"),
    "missing_key": (lambda p, s: write_pt(p, dict(list(s.items())[1:])), "missing keys"),
    "extra_key": (lambda p, s: write_pt(p, {**s, "extra.weight": torch.ones(2)}), "unexpected keys"),
    "bare_state_dict_with_nan": (
        lambda p, s: write_pt(p, {**s, first_float(s): s[first_float(s)] * float("nan")}, wrap=False),
        "NaN or infinite",
    ),
}


@pytest.mark.parametrize("name", PT_MUTATIONS)
def test_a_damaged_original_checkpoint_is_refused(state, tmp_path, name) -> None:
    mutate, expected = PT_MUTATIONS[name]
    path = tmp_path / "edgetam.pt"
    mutate(path, state)
    out = assert_refused(cli("info", "--checkpoint", path), str(path))
    assert expected in out
    if name.endswith("weights") and "NaN" in expected:
        assert first_float(state) in out  # the tensor is named
    count("checkpoint_mutations")


def test_a_refused_checkpoint_writes_no_export(state, tmp_path) -> None:
    path = tmp_path / "edgetam.pt"
    PT_MUTATIONS["nan_weights"][0](path, state)
    out = tmp_path / "export"
    assert_refused(cli("export", "--checkpoint", path, "--format", "onnx", "--out", out, "--image-size", 256), "NaN")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edgetam.pt"]
    count("checkpoint_mutations")


@pytest.mark.parametrize("seed", range(3))
def test_bit_flips_in_an_original_checkpoint_load_or_are_refused_cleanly(state, tmp_path, seed) -> None:
    path = write_pt(tmp_path / "edgetam.pt", state)
    flip_bits(path, seed, flips=4)
    assert_clean(cli("info", "--checkpoint", path))
    count("checkpoint_mutations")


def _rewrite_header(path, edit) -> None:
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    edit(header)
    body = json.dumps(header).encode()
    body += b" " * (-len(body) % 8)
    path.write_bytes(struct.pack("<Q", len(body)) + body + data[8 + n :])


def _declare(field: str, value):
    """Edit the first float32 tensor's header entry (a value of None: its shape as [1, numel, 1])."""

    def edit(header):
        name = next(k for k, v in header.items() if k != "__metadata__" and v["dtype"] == "F32")
        entry = header[name]
        if value is None:
            numel = 1
            for d in entry["shape"]:
                numel *= d
            entry[field] = [1, numel, 1]
        else:
            entry[field] = value

    return edit


HF_MUTATIONS = {
    "truncated_weights": (lambda f: truncate(f / "model.safetensors", 0.5), "model.safetensors"),
    "huge_header_length": (
        lambda f: (f / "model.safetensors").write_bytes(
            struct.pack("<Q", 2**62) + (f / "model.safetensors").read_bytes()[8:]
        ),
        "model.safetensors",
    ),
    "garbage_header": (
        lambda f: flip_bits(f / "model.safetensors", 1, flips=40, start=8, end=400),
        "model.safetensors",
    ),
    "huge_declared_offsets": (
        lambda f: _rewrite_header(f / "model.safetensors", _declare("data_offsets", [0, 2**60])),
        "model.safetensors",
    ),
    "wrong_declared_dtype": (lambda f: _rewrite_header(f / "model.safetensors", _declare("dtype", "I32")), "hf"),
    "wrong_declared_shape": (lambda f: _rewrite_header(f / "model.safetensors", _declare("shape", None)), "hf"),
    "config_not_utf8": (lambda f: (f / "config.json").write_bytes(b'{"model_type": "\xff\xfe"}'), "config.json"),
    "config_not_json": (lambda f: (f / "config.json").write_text("{model_type: edgetam"), "config.json"),
    "config_a_list": (lambda f: (f / "config.json").write_text("[1, 2]"), "config.json"),
    "config_other_model": (lambda f: (f / "config.json").write_text('{"model_type": "llama"}'), "config.json"),
    "config_missing": (lambda f: (f / "config.json").unlink(), "config.json"),
    "weights_missing": (lambda f: (f / "model.safetensors").unlink(), "model.safetensors"),
}


@pytest.mark.parametrize("name", HF_MUTATIONS)
def test_a_damaged_hugging_face_folder_is_refused(state, tmp_path, name) -> None:
    folder = write_hf(tmp_path / "hf", state)
    mutate, names = HF_MUTATIONS[name]
    mutate(folder)
    assert_refused(cli("info", "--checkpoint", folder), names, str(folder))
    count("checkpoint_mutations")


def test_nan_in_a_safetensors_file_is_refused_by_name(state, tmp_path) -> None:
    key = first_float(state)
    folder = write_hf(tmp_path / "hf", {**state, key: state[key] * float("inf")})
    out = assert_refused(cli("info", "--checkpoint", folder), str(folder))
    assert "NaN or infinite" in out and key in out
    count("checkpoint_mutations")


def test_differing_fourier_copies_are_refused_with_the_reason(state, tmp_path) -> None:
    """Choice: refuse. EdgeTAM has one random-Fourier matrix (the original stores one; a converted checkpoint
    holds it twice); two different ones mean the weights are not EdgeTAM's, so no faithful load exists."""
    hf = original_to_hf(state)
    hf[FOURIER[0]] = hf[FOURIER[0]] + 1
    (folder := tmp_path / "hf").mkdir()
    save_file(hf, str(folder / "model.safetensors"))
    (folder / "config.json").write_text('{"model_type": "edgetam_video"}')
    out = tmp_path / "export"
    result = cli("export", "--checkpoint", folder, "--format", "onnx", "--out", out, "--image-size", 256)
    message = assert_refused(result, str(folder))
    assert "random-Fourier" in message and "differ" in message and "freshly initialised" in message
    assert not out.exists()
    count("checkpoint_mutations")


def test_a_fresh_transformers_save_pretrained_is_refused_with_the_reason(tmp_path) -> None:
    """The case as users meet it: save_pretrained of a freshly initialised EdgeTamVideoModel."""
    from benchmarks.oracles import build_hf_model

    torch.manual_seed(0)
    model, _ = build_hf_model(256)
    sd = model.state_dict()
    assert not torch.equal(sd[FOURIER[0]], sd[FOURIER[1]])  # drawn independently
    model.save_pretrained(tmp_path / "fresh")
    message = assert_refused(cli("info", "--checkpoint", tmp_path / "fresh"), str(tmp_path / "fresh"))
    assert "random-Fourier" in message
    count("checkpoint_mutations")
