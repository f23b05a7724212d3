"""Distillation losses in the shape of sentence-transformers losses."""

from optical_bench.losses.contrastive import InBatchContrastiveLoss
from optical_bench.losses.optimal_transport import OptimalTransportLoss

__all__ = ["InBatchContrastiveLoss", "OptimalTransportLoss"]
