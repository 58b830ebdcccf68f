"""Checking a manifest's structure before anything reads it: a hand-edited or damaged manifest.json ends in
one message naming the field and what is wrong, never in a KeyError deep in a backend.

The manifest itself carries no checksum (the model files do, see `manifest.stage_files`), so every field
the runtime, `inspect` and `verify` read is checked here: types, ranges, every stage present, and each
stage's recorded contract equal to the one its model config implies (a changed `image_size` with the old
graphs would otherwise fail inside the runtime with a shape error).
"""

from __future__ import annotations

import re
from pathlib import Path

from .contract import CAPACITY_AXES, STAGES, contract, model_sizes
from .errors import InputError

# Config fields the runtime reads: positive integers and booleans.
_CONFIG_INTS = (
    "image_size",
    "backbone_stride",
    "hidden_dim",
    "mem_dim",
    "num_maskmem",
    "max_obj_ptrs_in_encoder",
    "num_latents_1d",
    "num_latents_2d",
)
_CONFIG_COUNTS = ("multimask_min_pt_num", "multimask_max_pt_num")  # may be 0
_CONFIG_BOOLS = ("multimask_output_in_sam", "multimask_output_for_tracking")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _int(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def check_manifest(manifest: object, path: Path) -> None:
    """Raise InputError naming the first field of `manifest` (read from `path`) the toolkit cannot use."""

    def bad(field: str, problem: str) -> InputError:
        return InputError(f"{path}: {field} {problem}; the manifest is damaged or was edited: export again")

    if not isinstance(manifest, dict):
        raise bad("the top level", f"must be a JSON object, not a {type(manifest).__name__}")
    for key in ("toolkit", "model", "weights", "preprocessing", "formats"):
        if not isinstance(manifest.get(key), dict):
            raise bad(f"'{key}'", "is missing or not an object")
    if not isinstance(manifest["toolkit"].get("version"), str):
        raise bad("'toolkit.version'", "is missing or not a string")
    config = manifest["model"].get("config")
    if not isinstance(config, dict):
        raise bad("'model.config'", "is missing or not an object")
    for key in _CONFIG_INTS + _CONFIG_COUNTS:
        lowest = 0 if key in _CONFIG_COUNTS else 1
        if not _int(config.get(key), lowest):
            raise bad(f"'model.config.{key}'", f"must be an integer ≥ {lowest}, not {config.get(key)!r}")
    for key in _CONFIG_BOOLS:
        if not isinstance(config.get(key), bool):
            raise bad(f"'model.config.{key}'", f"must be true or false, not {config.get(key)!r}")
    if config["image_size"] % config["backbone_stride"] or config["image_size"] > 8192:
        raise bad("'model.config.image_size'", f"{config['image_size']} is not a multiple of the stride up to 8192")
    if manifest["preprocessing"].get("image_size") != config["image_size"]:
        raise bad("'preprocessing.image_size'", "differs from model.config.image_size")
    if not manifest["formats"]:
        raise bad("'formats'", "is empty")
    sizes = model_sizes(config)
    for fmt, section in manifest["formats"].items():
        _check_section(fmt, section, sizes, bad)


def _check_section(fmt: str, section: object, sizes: dict, bad) -> None:
    where = f"'formats.{fmt}"
    if not isinstance(section, dict):
        raise bad(where + "'", "is not an object")
    if not isinstance(section.get("precision"), str) or not section["precision"]:  # fp32, fp16, int8, ...
        raise bad(where + ".precision'", f"must name a precision (e.g. fp32), not {section.get('precision')!r}")
    caps = section.get("capacities")
    if not isinstance(caps, dict):
        raise bad(where + ".capacities'", "is missing or not an object")
    for axis in CAPACITY_AXES:
        if caps.get(axis) is not None and not _int(caps.get(axis), 1):
            raise bad(f"{where}.capacities.{axis}'", f"must be null or a positive integer, not {caps.get(axis)!r}")
    stages = section.get("stages")
    if not isinstance(stages, dict):
        raise bad(where + ".stages'", "is missing or not an object")
    missing = [s for s in STAGES if s not in stages]
    if missing:
        raise bad(where + ".stages'", f"lacks {', '.join(missing)}")
    fixed = {**sizes, **{a: caps[a] for a in CAPACITY_AXES if caps.get(a) is not None}}
    for stage, entry in stages.items():
        at = f"{where}.stages.{stage}"
        if stage not in STAGES:
            raise bad(at + "'", f"is not a stage of this toolkit (stages: {', '.join(STAGES)})")
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise bad(at + ".file'", "is missing or not a string")
        if not isinstance(entry.get("sha256"), str) or not _SHA256.fullmatch(entry["sha256"]):
            raise bad(at + ".sha256'", "is missing or not 64 hex digits")
        expected = contract(STAGES[stage], fixed)
        for kind in ("inputs", "outputs"):
            recorded = entry.get(kind)
            ok = isinstance(recorded, list) and all(isinstance(t, dict) for t in recorded)
            got = [(t.get("name"), t.get("shape")) for t in recorded] if ok else None
            want = [(t["name"], t["shape"]) for t in expected[kind]]
            if got != want:
                raise bad(f"{at}.{kind}'", f"is {got!r}, but model.config implies {want!r}")
