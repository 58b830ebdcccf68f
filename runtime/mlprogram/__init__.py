"""A numpy interpreter of Core ML ML Programs: runs exported `.mlpackage`s where Core ML cannot (Linux).

`Program(path).run(inputs)` executes the package's `main` function op by op (see `program.py` for the
precision model: float16-typed tensors are stored as float16 after every op); `compare.first_losses`
finds the ops where float16 storage loses precision. coremltools is needed to read the package (it is
imported when a program is loaded, not with this package).
"""

from .ops import REGISTRY, supported_ops
from .program import Program, ProgramError, UnsupportedOpError, load_mil

__all__ = ["REGISTRY", "Program", "ProgramError", "UnsupportedOpError", "load_mil", "supported_ops"]
