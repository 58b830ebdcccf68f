"""Export EdgeTAM's stages to Core ML and ONNX, verify them, and track videos from the command line."""

__version__ = "0.11.0"
