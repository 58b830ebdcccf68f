"""Which constants a Core ML package stores: weights, folded; position and RoPE tables, built when it runs.

coremltools folds every constant subgraph into a stored constant, so a position or RoPE table that the graph
expands from per-axis rows (`reference_model.rope.grid_table`) would be stored expanded: at 1024² memory
attention's three 4096×256 tables, the memory slots' positions and key tables, the decoder's 64×64 Fourier
map and the memory encoder's position map, ~8 MB of float16. The conversion runs coremltools' default
passes with two changes:

- constant folding (`common::const_elimination`) leaves computed constants of more than FOLD_LIMIT elements
  computed, so those tables stay expand/add ops on the per-axis rows;
- casts of constants are folded whatever their size (`edgetam::fold_const_casts`, right after the float16
  pass inserts them), so every weight is stored once, in float16, ready for compression.

Weights themselves are constants from the start and are not affected. The largest weight-derived value that
a pass computes with ops rather than numpy (the RoPE channel reorder of a 256×256 projection) is at the limit.
"""

from __future__ import annotations

# Elements; a 256×256 reordered projection weight is the largest weight-derived constant computed with ops.
FOLD_LIMIT = 256 * 256
_PASS = "edgetam::fold_const_casts"
_registered = False


def _register() -> None:
    global _registered
    if _registered:
        return
    from coremltools.converters.mil.mil import Builder as mb
    from coremltools.converters.mil.mil.passes.graph_pass import AbstractGraphPass
    from coremltools.converters.mil.mil.passes.helper import block_context_manager
    from coremltools.converters.mil.mil.passes.pass_registry import register_pass

    @register_pass(namespace="edgetam", override=True)
    class fold_const_casts(AbstractGraphPass):  # noqa: N801 (coremltools names passes by their class)
        """cast(const) → const of the cast value, for any size (const_elimination skips large ones)."""

        def apply(self, prog) -> None:
            for function in prog.functions.values():
                self._fold(function)

        @block_context_manager
        def _fold(self, block) -> None:
            for op in list(block.operations):
                for inner in op.blocks:
                    self._fold(inner)
                if op.op_type != "cast" or op.x.op is None or op.x.op.op_type != "const":
                    continue
                out = op.outputs[0]
                if out.val is None:
                    continue
                folded = mb.const(val=out.val, before_op=op, name=out.name)
                if block.try_replace_uses_of_var_after_op(anchor_op=op, old_var=out, new_var=folded):
                    out.set_name(out.name + "_folded")
                    block.remove_ops([op])

    _registered = True


def pass_pipeline():
    """coremltools' default pipeline with the two changes above."""
    import coremltools as ct

    _register()
    pipeline = ct.PassPipeline.DEFAULT
    pipeline.set_options("common::const_elimination", {"skip_const_by_size": str(FOLD_LIMIT)})
    names = list(pipeline.passes)
    for index in reversed([i for i, name in enumerate(names) if name == "common::add_fp16_cast"]):
        pipeline.insert_pass(index + 1, _PASS)
    return pipeline
