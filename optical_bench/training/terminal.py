"""What training shows on the terminal: the Trainer's progress bar with the latest loss and
dev score in it, instead of a raw dict per logging step; ``optical-bench -v`` keeps the
Trainer's own lines (the full log is in ``trainer_state.json`` either way)."""

from __future__ import annotations

import logging

from transformers.trainer_callback import PrinterCallback, ProgressCallback

SHOWN = {"loss": "loss", "eval_dev_mrr@10": "dev MRR@10", "grad_norm": "grad norm"}


class QuietProgressCallback(ProgressCallback):
    """:class:`ProgressCallback` whose ``on_log`` updates the bar's postfix instead of writing the dict."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or self.training_bar is None or not logs:
            return
        shown = {label: f"{logs[key]:.4g}" for key, label in SHOWN.items() if isinstance(logs.get(key), (int, float))}
        if shown:
            self.training_bar.set_postfix(shown, refresh=False)


def verbose() -> bool:
    """Whether the command line asked for ``-v`` (the root logger at INFO or below)."""
    return logging.getLogger().isEnabledFor(logging.INFO)


def quiet_trainer_output(trainer) -> None:
    """Replace the Trainer's printing callbacks unless ``-v``: with progress bars, the bar shows
    the loss; without (``--quiet``), nothing is printed per logging step."""
    if verbose():
        return
    trainer.pop_callback(PrinterCallback)
    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(QuietProgressCallback)
