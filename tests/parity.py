"""Parity figures, computed as the product's verifier computes them."""

from edgetam_export.metrics import cosine, iou, psnr, rel_diff

__all__ = ["cosine", "iou", "psnr", "rel_diff"]
