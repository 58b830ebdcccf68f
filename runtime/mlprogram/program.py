"""Load an ML Program (`.mlpackage`) and execute its `main` function op by op with numpy.

Loading uses coremltools' own reader (`milproto.load`), which turns the package's MIL program and weight
blob into typed ops with numpy constants; execution is this package's: each op type maps to a function in
`runtime.mlprogram.ops`. An op type without an implementation is an error at load time naming the op,
the stage and the coremltools version — never a silent skip.

Precision: every op computes in float32 (float16 inputs are widened first) and its outputs are stored in
the type the program gives them, so a tensor typed fp16 is rounded to float16 after every op, overflowing
to ±inf past 65504 as Core ML's float16 storage does. This models Core ML's float16 *storage*; the Neural
Engine's arithmetic (its accumulation order and internal widths) is not modelled, so an ANE run may
differ by a few float16 ulps more. `storage="float32"` runs the same program with every float tensor kept
in float32 (the constants stay as stored), which isolates what float16 storage costs, op by op.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .ops import REGISTRY

STORAGES = ("program", "float32")


class UnsupportedOpError(NotImplementedError):
    """The program holds an op type the interpreter does not implement."""


class ProgramError(RuntimeError):
    """An op failed while running; the message names the op, its type and the stage."""


@dataclass
class _Arg:
    kind: str  # "var" (read from the environment), "const" (a value), "list" (of _Arg)
    value: object


@dataclass
class Step:
    op_type: str
    name: str
    fn: Callable
    args: dict[str, _Arg]
    outputs: list[tuple[str, np.dtype, bool]]  # name, stored dtype, typed fp16
    frees: list[str] = field(default_factory=list)  # values no later step reads


def _coremltools():
    logging.getLogger("coremltools").setLevel(logging.ERROR)  # its "Failed to load _MLModelProxy" notes
    import coremltools

    return coremltools


def _numpy_dtype(var) -> tuple[np.dtype, bool]:
    from coremltools.converters.mil.mil import types

    dtype = var.dtype
    if dtype == types.fp16:
        return np.dtype(np.float16), True
    if types.is_float(dtype):
        return np.dtype(np.float32), False
    if dtype == types.bool:
        return np.dtype(np.bool_), False
    if types.is_str(dtype):
        return np.dtype(object), False
    return np.dtype(types.nptype_from_builtin(dtype)), False


def _widen(value):
    """Constants as ops receive them: float arrays as float32, strings and scalars as Python values."""
    if isinstance(value, (str, bool, int, float)):
        return value
    array = np.asarray(value)
    if array.dtype.kind == "f" and array.dtype != np.float32:
        return array.astype(np.float32)
    if array.dtype.kind in "US":
        return str(array)
    return array


def load_mil(path: str | Path):
    """coremltools' MIL Program of a saved `.mlpackage` (weights as numpy arrays)."""
    ct = _coremltools()
    from coremltools.converters.mil.frontend.milproto.load import load

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    spec = ct.utils.load_spec(str(path))
    if spec.WhichOneof("Type") != "mlProgram":
        raise ValueError(f"{path.name} is a {spec.WhichOneof('Type')} model, not an ML Program")
    weights = path / "Data" / "com.apple.CoreML" / "weights"
    return load(spec, specification_version=spec.specificationVersion, file_weights_dir=str(weights))


class Program:
    """The `main` function of an ML Program, ready to run on numpy inputs.

    stage: a name for messages (e.g. the EdgeTAM stage). `Program(path).run({"x": array})` returns the
    function's outputs by name as float32 (or the output's integer/bool type).
    """

    def __init__(self, path: str | Path, stage: str | None = None, function: str = "main") -> None:
        ct = _coremltools()
        self.path = Path(path)
        self.stage = stage or self.path.stem
        program = load_mil(self.path)
        if function not in program.functions:
            raise ValueError(f"{self.path.name} has no function {function!r} (it has {sorted(program.functions)})")
        func = program.functions[function]
        self.op_counts: Counter = Counter(op.op_type for op in func.operations)
        missing = sorted(t for t in self.op_counts if t not in REGISTRY and t != "const")
        nested = sorted({op.op_type for op in func.operations if op.blocks})
        if missing or nested:
            raise UnsupportedOpError(
                f"{self.stage}: the ML Program uses MIL op type(s) this interpreter does not implement: "
                f"{', '.join(missing + nested)} (coremltools {ct.__version__}, {self.path.name}); "
                "add them to runtime/mlprogram/ops"
            )
        self.inputs = {name: (tuple(var.shape), _numpy_dtype(var)[0]) for name, var in func.inputs.items()}
        self.output_names = [var.name for var in func.outputs]
        self.constants: dict[str, object] = {}
        self.steps: list[Step] = []
        for op in func.operations:
            self._compile(op)
        self._plan_frees()

    # -- loading ----------------------------------------------------------------------------------------

    def _arg(self, var) -> _Arg:
        if isinstance(var, (list, tuple)):
            return _Arg("list", [self._arg(v) for v in var])
        if var.name in self.constants:  # const and constexpr_* outputs
            return _Arg("const", self.constants[var.name])
        return _Arg("var", var.name)

    def _compile(self, op) -> None:
        if op.op_type == "const":
            self.constants[op.outputs[0].name] = _widen(op.outputs[0].val)
            return
        args = {name: self._arg(var) for name, var in op.inputs.items()}
        outputs = [(out.name, *_numpy_dtype(out)) for out in op.outputs]
        step = Step(op.op_type, op.name, REGISTRY[op.op_type], args, outputs)
        if op.op_type.startswith("constexpr_"):  # constants: evaluated once, here
            values = self._execute(step, {}, "program")
            for (name, _, _), value in zip(outputs, values):
                self.constants[name] = _widen(value)
            return
        self.steps.append(step)

    def _plan_frees(self) -> None:
        last: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            for name in _var_names(step.args.values()):
                last[name] = i
        keep = set(self.output_names)
        for name, i in last.items():
            if name not in keep and name not in self.inputs:
                self.steps[i].frees.append(name)

    # -- running ----------------------------------------------------------------------------------------

    def _execute(self, step: Step, env: dict, storage: str) -> list[np.ndarray]:
        kwargs = {name: _resolve(arg, env) for name, arg in step.args.items()}
        try:
            with np.errstate(over="ignore", under="ignore"):
                result = step.fn(**kwargs)
        except Exception as exc:
            raise ProgramError(f"{self.stage}: op {step.name!r} ({step.op_type}) failed: {exc}") from exc
        results = result if isinstance(result, tuple) else (result,)
        if len(results) != len(step.outputs):
            raise ProgramError(f"{self.stage}: op {step.name!r} ({step.op_type}) gave {len(results)} outputs")
        stored = []
        for value, (_, dtype, half) in zip(results, step.outputs):
            with np.errstate(over="ignore", invalid="ignore"):
                if half and storage == "program":
                    value = np.asarray(value, dtype=np.float32).astype(np.float16).astype(np.float32)
                elif dtype.kind == "f" or half:
                    value = np.asarray(value, dtype=np.float32)
                elif dtype.kind != "O":
                    value = np.asarray(value).astype(dtype, copy=False)
            stored.append(value)
        return stored

    def run(
        self,
        feeds: dict[str, np.ndarray],
        storage: str = "program",
        record: bool | Iterable[str] = False,
        timings: dict[str, float] | None = None,
    ) -> dict[str, np.ndarray]:
        """Execute `main` on `feeds` (every input by name). storage: "program" (fp16-typed tensors stored as
        float16) or "float32" (every float tensor kept in float32). record: True, or the names of op
        outputs to keep; they are returned with the outputs (float32) under their MIL names. timings:
        a dict that receives seconds per op type."""
        if storage not in STORAGES:
            raise ValueError(f"storage {storage!r} is not one of {STORAGES}")
        missing = [name for name in self.inputs if name not in feeds]
        if missing:
            raise ValueError(f"{self.stage}: missing input(s) {missing}; the program takes {list(self.inputs)}")
        env: dict[str, np.ndarray] = {}
        for name, (_, dtype) in self.inputs.items():
            value = np.asarray(feeds[name])
            env[name] = value.astype(np.float32) if dtype.kind == "f" else value.astype(dtype)
        keep_all = record is True
        wanted = set() if isinstance(record, bool) else set(record)
        recorded: dict[str, np.ndarray] = {}
        for step in self.steps:
            start = time.perf_counter() if timings is not None else 0.0
            values = self._execute(step, env, storage)
            if timings is not None:
                timings[step.op_type] = timings.get(step.op_type, 0.0) + time.perf_counter() - start
            for (name, _, _), value in zip(step.outputs, values):
                env[name] = value
                if keep_all or name in wanted:
                    recorded[name] = value
            for name in step.frees:
                env.pop(name, None)
        result = {name: env[name] if name in env else self.constants[name] for name in self.output_names}
        return {**recorded, **result} if record else result

    def op_types(self) -> dict[str, int]:
        return dict(sorted(self.op_counts.items()))


def _resolve(arg: _Arg, env: dict):
    if arg.kind == "var":
        return env[arg.value]
    if arg.kind == "list":
        return [_resolve(a, env) for a in arg.value]
    return arg.value


def _var_names(args: Iterable[_Arg]) -> Iterable[str]:
    for arg in args:
        if arg.kind == "var":
            yield arg.value
        elif arg.kind == "list":
            yield from _var_names(arg.value)
