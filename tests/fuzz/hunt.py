"""Run many programs on an export and print each failure shrunk: `python -m tests.fuzz.hunt EXPORT FIRST LAST`
(seeds FIRST..LAST-1 on the ONNX backend; add `--torch` to compare with the torch stages too)."""

from __future__ import annotations

import json
import sys
import time

from runtime import Tracker
from tests.fuzz.programs import generate
from tests.fuzz.runner import agreement_problems, call_problems, run, stream_problems
from tests.fuzz.shrink import shrink


def main(argv: list[str]) -> int:
    folder, first, last = argv[0], int(argv[1]), int(argv[2])
    onnx = Tracker.load(folder, "onnx")
    torch_tracker = None
    if "--torch" in argv:
        import torch

        from reference_model import EdgeTamConfig, synthetic_model
        from runtime.backends.torch import TorchBackend

        torch.set_num_threads(1)
        manifest = json.loads((__import__("pathlib").Path(folder) / "manifest.json").read_text())
        cfg = EdgeTamConfig.from_dict(manifest["model"]["config"])
        torch_tracker = Tracker(TorchBackend(*synthetic_model(manifest["weights"]["seed"], cfg)))

    def problems(program: dict) -> list[str]:
        out = run(program, onnx)
        found = call_problems(program, out) + stream_problems(program, out, onnx.config)
        if torch_tracker is not None:
            found += agreement_problems(run(program, torch_tracker), out, "torch vs onnx")
        return found

    started, calls, failures = time.perf_counter(), 0, 0
    for seed in range(first, last):
        program = generate(seed)
        calls += len(program["calls"])
        found = problems(program)
        if found:
            failures += 1
            small = shrink(program, lambda p: bool(problems(p)))
            print(json.dumps({"seed": seed, "problem": found[0][:500], "program": small}), flush=True)
    seconds = time.perf_counter() - started
    print(f"{last - first} programs, {calls} calls, {failures} failing, {seconds:.0f} s", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
