"""Distillation losses in the shape of sentence-transformers losses, composed of small terms
(:mod:`optical_bench.losses.distillation`): the OT term alone (:class:`OptimalTransportLoss`),
in-batch InfoNCE alone (:class:`InBatchContrastiveLoss`), and any weighted combination
(:class:`DistillationLoss`)."""

from optical_bench.losses.contrastive import InBatchContrastiveLoss
from optical_bench.losses.distillation import DistillationLoss, EnglishAnchor, InfoNCE, SentenceMSE
from optical_bench.losses.optimal_transport import OptimalTransportLoss, TokenOT

__all__ = ["DistillationLoss", "EnglishAnchor", "InBatchContrastiveLoss", "InfoNCE", "OptimalTransportLoss", "SentenceMSE", "TokenOT"]
