"""Deep Compression: prune, share weights, Huffman-code, in one file (Han et al., "Deep Compression:
Compressing Deep Neural Networks with Pruning, Trained Quantization and Huffman Coding", ICLR 2016).

``compress_(model, DeepCompressionConfig(...), example, data)`` runs the pipeline on a trained model:

1. magnitude pruning to ``sparsity`` (one threshold over the inner layers; the first layer and the classifier
   stay dense), gradual on a cubic ramp while fine-tuning (``recover``, by default distilling from the float
   model), zeros kept (:mod:`torchshrink.prune.magnitude`);
2. a k-means codebook of ``2**bits`` centroids per layer, zeros staying zero, with the centroids fine-tuned
   (``centroids``, :mod:`.codebook`);
3. the baked model written as one ``.tsdc`` file (sparse positions, codebook indices, Huffman coding), and the
   model loaded back from that file returned.

The file format is :mod:`.tsdc` (``save_compressed``/``load_compressed``, re-exported here).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch.nn as nn

from ..compress import Context, Report, register_method
from ..recover import Recovery
from .codebook import CodebookConfig, codebook_report, trained_codebook_
from .tsdc import _layers, load_compressed, save_compressed  # noqa: F401  (the file format, re-exported)


@dataclass
class DeepCompressionConfig:
    """Prune ``sparsity`` of the inner layers' weights (``gradual``: on a cubic ramp during ``recover``), then
    share weights with ``bits``-bit codebooks whose centroids are fine-tuned (``centroids``)."""

    HELP: ClassVar[dict[str, str]] = {"sparsity": "fraction of weights pruned (0.9)", "bits": "bits per codebook "
                                      "index", "gradual": "prune on a cubic ramp while fine-tuning"}

    sparsity: float = 0.9
    bits: int = 4
    gradual: bool = True
    recover: Recovery = field(default_factory=lambda: Recovery(epochs=2, lr=0.01, distiller="kd"))
    centroids: Recovery = field(default_factory=lambda: Recovery(epochs=1, lr=0.001))

    def validate(self) -> list[str]:
        p = []
        if not 0.0 < self.sparsity < 1.0:
            p.append(f"sparsity: the fraction of weights pruned must be in (0, 1), got {self.sparsity}")
        if not 1 <= self.bits <= 8:
            p.append(f"bits: must be in 1..8, got {self.bits}")
        if self.gradual and self.recover.epochs < 1:
            p.append("gradual: the cubic ramp prunes during fine-tuning, so give recover.epochs >= 1 (or set "
                     "gradual: false)")
        return (p + [f"recover.{q}" for q in self.recover.validate()]
                + [f"centroids.{q}" for q in self.centroids.validate()])


@register_method(DeepCompressionConfig, "quant.deep-compression", family="quantize", trains=True, needs_data=True)
def _deep_compression(model: nn.Module, cfg: DeepCompressionConfig, ctx: Context) -> Report:
    """Deep Compression: prune, share weights with trained codebooks, Huffman-code, in one .tsdc file."""
    from ..prune.magnitude import MagnitudeConfig
    from ..prune.unstructured import prune_weights_

    layers = list(_layers(model))
    prune = MagnitudeConfig(sparsity=cfg.sparsity, scope="global", exclude=[layers[0], layers[-1]] if len(layers) > 2
                            else [], gradual=cfg.gradual, recover=cfg.recover)
    history, notes = prune_weights_(model, prune, ctx)
    history += trained_codebook_(model, CodebookConfig(bits=cfg.bits, recover=cfg.centroids), ctx)
    report = codebook_report("quant.deep-compression", model, ctx, history)
    report.notes = notes + [f"{cfg.bits}-bit codebooks with {cfg.centroids.epochs} epochs of centroid fine-tuning, "
                            "Huffman-coded indices"]
    return report
