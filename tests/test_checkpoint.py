"""Checkpoint loading in every supported format, and the errors for checkpoints that do not fit."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from reference_model import CheckpointError, EdgeTamConfig, load_model
from reference_model.hf_keys import original_to_hf
from tests.conftest import SMALL

CFG = EdgeTamConfig(image_size=SMALL)


@pytest.fixture(scope="module")
def state(small_model) -> dict[str, torch.Tensor]:
    return small_model.state_dict()


def _same(model, state) -> bool:
    return all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_original_pt(state, tmp_path):
    path = tmp_path / "edgetam.pt"
    torch.save({"model": state}, path)
    model, info = load_model(path, CFG)
    assert _same(model, state)
    assert info.kind == "checkpoint" and info.format == "original" and len(info.sha256) == 64
    assert "sha256" in info.describe()


def test_bare_safetensors_in_both_namings(state, tmp_path):
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "original.safetensors")
    save_file({k: v.contiguous() for k, v in original_to_hf(state).items()}, tmp_path / "hf.safetensors")
    for name, fmt in (("original.safetensors", "original"), ("hf.safetensors", "huggingface")):
        model, info = load_model(tmp_path / name, CFG)
        assert _same(model, state) and info.format == fmt


def test_missing_unexpected_and_misshaped_keys_are_listed(state, tmp_path):
    broken = dict(state)
    del broken["no_obj_ptr"], broken["sam_mask_decoder.iou_token.weight"]
    broken["extra.weight"] = torch.zeros(3)
    broken["maskmem_tpos_enc"] = torch.zeros(5, 1, 1, 64)
    torch.save({"model": broken}, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path / "broken.pt", CFG)
    message = str(err.value)
    for expected in (
        "2 missing keys",
        "no_obj_ptr",
        "sam_mask_decoder.iou_token.weight",
        "1 unexpected keys",
        "extra.weight",
        "maskmem_tpos_enc: checkpoint (5, 1, 1, 64) vs model (7, 1, 1, 64)",
    ):
        assert expected in message


class _Payload:  # a pickled object: weights_only loading must refuse it
    def __reduce__(self):
        return (print, ("this code must not run",))


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: None, "checkpoint not found"),
        (lambda p: p.write_bytes(b"not a checkpoint"), "cannot read"),
        (lambda p: p.write_bytes(pickle.dumps({"model": _Payload()})), "weights_only=True"),
        (lambda p: torch.save([1, 2, 3], p), "does not hold a state dict"),
    ],
    ids=["missing", "garbage", "pickled-code", "not-a-state-dict"],
)
def test_unreadable_checkpoints(make, expected, tmp_path):
    path = tmp_path / "edgetam.pt"
    make(path)
    with pytest.raises(CheckpointError, match=expected):
        load_model(path, CFG)


def test_hf_folder_errors(state, tmp_path):
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_model(tmp_path, CFG)
    save_file({k: v.contiguous() for k, v in original_to_hf(state).items()}, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match="no config.json"):
        load_model(tmp_path, CFG)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "sam2_video"}))
    with pytest.raises(CheckpointError, match="model_type 'sam2_video'"):
        load_model(tmp_path, CFG)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "edgetam_video"}))
    assert _same(load_model(tmp_path, CFG)[0], state)
