"""Distillation losses in the shape of sentence-transformers losses."""

from optical_bench.losses.optimal_transport import InBatchContrastiveLoss, OptimalTransportLoss

__all__ = ["InBatchContrastiveLoss", "OptimalTransportLoss"]
