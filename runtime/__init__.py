"""EdgeTAM runtime: drives the exported stages and keeps the memory bank outside them.

Imports no torch, onnxruntime or coremltools until a backend that needs one is chosen.
"""

from .errors import InputError, SessionError
from .tracker import FrameResult, Session, Tracker

__all__ = ["FrameResult", "InputError", "Session", "SessionError", "Tracker"]
