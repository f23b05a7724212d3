"""Checkpoint selection on the dev split (held-out Bible books): MRR@10 and R@1 during training."""

from __future__ import annotations

import logging
import random
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytrec_eval
import torch
from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

from optical_bench.config import TrainConfig
from optical_bench.data.beir import read_beir_folder
from optical_bench.models import cut_at

logger = logging.getLogger(__name__)


class DevRetrievalEvaluator:
    """Checkpoint selection on the dev collection: MRR@10 and R@1 by pytrec_eval.

    The documents go through the frozen document route once (cached); each call encodes
    only the dev queries with the current student.
    """

    def __init__(self, folder: Path, split: str = "dev", name: str = "dev", batch_size: int = 64):
        collection = read_beir_folder(folder, splits=(split,))
        self.qrels = collection.qrels[split]
        self.query_ids = list(self.qrels)
        self.queries = [collection.queries[qid] for qid in self.query_ids]
        self.doc_ids = list(collection.corpus)
        self.documents = [collection.corpus[did]["text"] for did in self.doc_ids]
        self.name = name
        self.batch_size = batch_size
        self.doc_embeddings = None

    def scores(self, model) -> dict[str, float]:
        if self.doc_embeddings is None:
            self.doc_embeddings = model.encode_document(
                self.documents, batch_size=self.batch_size, convert_to_tensor=True, normalize_embeddings=True
            )
        queries = model.encode_query(self.queries, batch_size=self.batch_size, convert_to_tensor=True, normalize_embeddings=True)
        similarity = queries @ self.doc_embeddings.T
        top = torch.topk(similarity, k=min(10, similarity.shape[1]), dim=1)
        run = {
            qid: {self.doc_ids[j]: float(s) for j, s in zip(top.indices[i].tolist(), top.values[i].tolist(), strict=True)}
            for i, qid in enumerate(self.query_ids)
        }
        evaluator = pytrec_eval.RelevanceEvaluator(self.qrels, {"recip_rank", "success"})
        per_query = evaluator.evaluate(run)
        return {
            "mrr@10": float(np.mean([m["recip_rank"] for m in per_query.values()])),
            "r@1": float(np.mean([m["success_1"] for m in per_query.values()])),
        }


@contextmanager
def _random_state_kept():
    """Run a dev evaluation without moving any random generator (torch CPU and CUDA, NumPy, Python):
    the training that follows draws the same dropout masks and batches whether dev was scored
    before it or not."""
    states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


class _Evaluator(BaseEvaluator):
    """The dev evaluator for the Trainer; it scores at the test-time ``lengths`` (training cuts shorter).

    (The class keeps the name it had, so the model card describes its evaluation as before.)
    """

    def __init__(self, dev: DevRetrievalEvaluator, lengths: dict):
        super().__init__()
        self.primary_metric = "mrr@10"
        self.name = dev.name
        self.dev = dev
        self.lengths = lengths

    def start_row(self, model) -> dict:
        """The dev scores before training (step 0), every random generator left as it was."""
        with cut_at(model, self.lengths), _random_state_kept():
            metrics = self.dev.scores(model)
        return {"step": 0, "mrr@10": metrics.get("mrr@10"), "r@1": metrics.get("r@1")}

    def __call__(self, model, output_path=None, epoch=-1, steps=-1):
        with cut_at(model, self.lengths):
            metrics = self.dev.scores(model)
        logger.info("dev at step %s: %s", steps, metrics)
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics


def dev_evaluator(config: TrainConfig, lengths: dict, collection: Path | None = None) -> BaseEvaluator | None:
    """The Trainer's dev evaluator on ``collection`` (the run's data: ``--dev-collection``, else its
    source's dev split), or ``None`` (``--no-dev``, a document-side student, or no collection)."""
    if not (config.checkpoints.dev and config.student_side == "query"):
        return None
    collection = collection or (Path(config.checkpoints.dev_collection) if config.checkpoints.dev_collection else None)
    if collection is None:
        logger.warning("No dev collection for this run: checkpoints are not selected on dev. Fix: pass --dev-collection FOLDER.")
        return None
    return _Evaluator(DevRetrievalEvaluator(collection), lengths)


def describe_dev_selection(provenance: dict | None) -> str:
    """One line on what dev chose: the checkpoint kept, its dev MRR@10 and R@1, and the start's
    (step 0, before any training) that it beat or did not."""
    history = [row for row in (provenance or {}).get("dev_history") or [] if row.get("mrr@10") is not None]
    if not history:
        return "dev: not evaluated (no dev split, or --no-dev): the model is the last step's"
    start = next((row for row in history if row["step"] == 0), None)
    best = (provenance or {}).get("best_checkpoint")
    trained = [row for row in history if row["step"] > 0]
    if best:
        step = int(str(best).rstrip("/").rsplit("-", 1)[-1]) if str(best).rstrip("/").rsplit("-", 1)[-1].isdigit() else None
        chosen = next((row for row in trained if row["step"] == step), None) or max(trained, key=lambda row: row["mrr@10"])
        what = f"chosen checkpoint: step {chosen['step']} ({Path(str(best)).name})"
    else:
        chosen = trained[-1] if trained else history[-1]
        what = f"no checkpoints kept: the last step's model (step {chosen['step']})"
    line = f"{what}, dev MRR@10 {chosen['mrr@10']:.4f}, R@1 {chosen['r@1']:.4f}"
    if start is not None:
        gain = chosen["mrr@10"] - start["mrr@10"]
        verdict = f"beats it by {gain:+.4f}" if gain > 0 else f"does not beat it ({gain:+.4f})"
        line += f"; before training (step 0) dev MRR@10 {start['mrr@10']:.4f}, R@1 {start['r@1']:.4f}: the model {verdict}"
    return line
