"""The stage contract: for every exported graph, its inputs and outputs (names, shapes, dtypes).

One table serves the ONNX and Core ML exporters, the verifier, the manifest and the runtime (the Swift
package decodes the same records from manifest.json); nothing about a stage is written anywhere else.
It lives in the runtime, which imports no torch, so the exporters depend on the runtime and never the
other way round. Shapes are symbolic: "B" is the object batch,
"K" conditioning-memory slots, "R" recent-memory slots, "N" object-pointer slots, "P" point slots; the
other sizes follow from the model config (see `resolve`). This module imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

# Symbolic sizes an exporter may keep dynamic (ONNX) or fix to a capacity (Core ML).
CAPACITY_AXES = ("K", "N", "P")


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[str | int, ...]
    description: str
    dtype: str = "float32"


@dataclass(frozen=True)
class Stage:
    name: str
    summary: str
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]


def _flag(name: str, meaning: str) -> Tensor:
    return Tensor(name, ("B", 1), f"0/1 per object: {meaning}")


STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage(
            "image_encoder",
            "RepViT-M1 trunk + FPN neck: one frame's features (run once per frame, shared by all objects)",
            (Tensor("image", (1, 3, "S", "S"), "RGB frame resized to S×S, /255, ImageNet mean/std normalized"),),
            (
                Tensor("vision_feats", (1, "C", "F", "F"), "stride-16 image features"),
                Tensor("high_res_0", (1, "C8", "4F", "4F"), "stride-4 features for the mask decoder"),
                Tensor("high_res_1", (1, "C4", "2F", "2F"), "stride-8 features for the mask decoder"),
            ),
        ),
        Stage(
            "memory_attention",
            "conditions a frame's features on each object's memory bank (2 RoPE attention layers)",
            (
                Tensor("vision_feats", (1, "C", "F", "F"), "image_encoder output"),
                Tensor("cond_mem", ("B", "K", "T", "M"), "memories of prompted (conditioning) frames"),
                Tensor("cond_valid", ("B", "K"), "1 where a conditioning slot holds a memory"),
                Tensor("recent_mem", ("B", "R", "T", "M"), "slot j: memory from R − j frames before"),
                Tensor("recent_valid", ("B", "R"), "1 where a recent slot holds a memory"),
                Tensor("obj_ptrs", ("B", "N", "C"), "object pointers of earlier frames"),
                Tensor("ptr_valid", ("B", "N"), "1 where a pointer slot holds a pointer"),
            ),
            (Tensor("pix_feat_with_mem", ("B", "C", "F", "F"), "memory-conditioned features"),),
        ),
        Stage(
            "mask_decoder",
            "prompt encoder + two-way transformer mask decoder + object pointer",
            (
                Tensor("image_embed", ("B", "C", "F", "F"), "pix_feat_with_mem, or vision_feats without memory"),
                Tensor("high_res_0", (1, "C8", "4F", "4F"), "image_encoder output"),
                Tensor("high_res_1", (1, "C4", "2F", "2F"), "image_encoder output"),
                Tensor("point_coords", ("B", "P", 2), "(x, y) in model-input pixels (0..S)"),
                Tensor("point_labels", ("B", "P"), "1 positive, 0 negative, 2/3 box corners, -1 empty slot"),
                Tensor("mask_input", ("B", 1, "4F", "4F"), "mask logits fed as a dense prompt"),
                _flag("use_mask_input", "use mask_input (else the learned no-mask embedding)"),
                _flag("multimask", "choose the best of three candidate masks"),
                _flag("no_memory", "first frame of an object, decoded without memory"),
                _flag("object_absent", "force the no-object pointer (an empty mask prompt)"),
            ),
            (
                Tensor("low_res_masks", ("B", 1, "4F", "4F"), "mask logits at stride 4 (−1024 if absent)"),
                Tensor("iou", ("B", 1), "predicted IoU of the chosen mask"),
                Tensor("object_score_logits", ("B", 1), "> 0 when the object is present"),
                Tensor("obj_ptr", ("B", "C"), "object pointer for later frames' memory attention"),
            ),
        ),
        Stage(
            "memory_encoder",
            "memory encoder + spatial perceiver: a frame's prediction as the tokens the bank stores",
            (
                Tensor("vision_feats", (1, "C", "F", "F"), "image_encoder output"),
                Tensor("low_res_masks", ("B", 1, "4F", "4F"), "mask logits of this frame"),
                _flag("is_prompted", "a frame the user prompted (its mask is binarized)"),
            ),
            (Tensor("mem_feats", ("B", "T", "M"), "memory tokens: global latents then 2D latents"),),
        ),
        Stage(
            "mask_prompt",
            "a binary mask prompt at model-input size → the decoder's mask input",
            (Tensor("mask", ("B", 1, "S", "S"), "0/1 mask resized to S×S"),),
            (Tensor("mask_input", ("B", 1, "4F", "4F"), "dense prompt logits"),),
        ),
    )
}


def model_sizes(config: dict) -> dict[str, int]:
    """Concrete values of the config-derived symbols for a model config (EdgeTamConfig.to_dict())."""
    feat = config["image_size"] // config["backbone_stride"]
    c = config["hidden_dim"]
    return {
        "S": config["image_size"],
        "C": c,
        "C4": c // 4,
        "C8": c // 8,
        "F": feat,
        "2F": 2 * feat,
        "4F": 4 * feat,
        "T": config["num_latents_1d"] + config["num_latents_2d"],
        "M": config["mem_dim"],
        "R": config["num_maskmem"] - 1,
    }


def resolve(shape: tuple[str | int, ...], sizes: dict[str, int]) -> tuple[str | int, ...]:
    """Replace config-derived symbols by numbers; capacity and batch symbols stay symbolic if not given."""
    return tuple(sizes.get(d, d) if isinstance(d, str) else d for d in shape)


def describe(specs: tuple[Tensor, ...], sizes: dict[str, int], dtype: str | None = None) -> list[dict]:
    """Tensors as they are recorded in manifests and model metadata (shapes resolved where known)."""
    return [
        {
            "name": t.name,
            "shape": list(resolve(t.shape, sizes)),
            "dtype": dtype or t.dtype,
            "description": t.description,
        }
        for t in specs
    ]


def contract(stage: Stage, sizes: dict[str, int], dtype: str | None = None, **extra: object) -> dict:
    """A stage's contract for given sizes: the one record the manifest, ONNX and Core ML metadata share."""
    return {
        "stage": stage.name,
        **extra,
        "inputs": describe(stage.inputs, sizes, dtype),
        "outputs": describe(stage.outputs, sizes, dtype),
    }
