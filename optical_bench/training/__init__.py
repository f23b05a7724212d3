"""Training a student (and building the training-free baselines) into one model folder.

Every method writes a sentence-transformers folder that ``SentenceTransformer(path)``
loads anywhere, with its provenance in the model card:

=====================  =====================================================================
method                 what it is
=====================  =====================================================================
``optical``            OT distillation of token embeddings (OPTICAL): the OT term, :class:`~optical_bench.losses.TokenOT`
``optical+mse``        OT + sentence-level MSE
``optical+contrastive`` OT + in-batch InfoNCE against teacher targets
``mse``                sentence-transformers' own ``MSELoss`` on teacher embeddings (Reimers & Gurevych 2020)
``contrastive``        in-batch InfoNCE against teacher targets only
``zero-shot``          the teacher on both sides (no training)
``centering``          zero-shot + language-mean centring of the student side (no training)
``translate-test``     queries translated to English (IBM Model 1 from the bitext, or an HF MT model), then the teacher
=====================  =====================================================================

The options are :class:`optical_bench.config.TrainConfig`; each trained method's loss terms and default
weights are its row of :data:`optical_bench.methods.TRAINED`. The modules:

- :mod:`.run`: :func:`train` (the folder lock, the resume checks, the order of the steps).
- :mod:`.pairs`: the run's bitext and the seeded samples drawn from it.
- :mod:`.objective`: a trained method's dataset and loss, built from its row of :mod:`optical_bench.methods`.
- :mod:`.student`: a trained student: Trainer arguments, resuming, the record.
- :mod:`.dev`: checkpoint selection on the dev split (held-out Bible books; test sets are never read).
- :mod:`.baselines`: language-mean centring and translate-test.
- :mod:`.record`: :data:`MODEL_FORMAT`, the provenance, the atomic save.
"""

from optical_bench.config import TrainConfig
from optical_bench.methods import FREE_METHODS, METHODS, TRAINED_METHODS
from optical_bench.training.dev import DevRetrievalEvaluator
from optical_bench.training.record import MODEL_FORMAT
from optical_bench.training.run import RESUME_MAY_CHANGE, describe_changes, options_changed_since, train, warn_if_english_only_student
from optical_bench.training.student import NonFiniteLossError, guard_finite_loss, last_complete_checkpoint

__all__ = [
    "DevRetrievalEvaluator",
    "FREE_METHODS",
    "METHODS",
    "MODEL_FORMAT",
    "NonFiniteLossError",
    "RESUME_MAY_CHANGE",
    "TRAINED_METHODS",
    "TrainConfig",
    "describe_changes",
    "guard_finite_loss",
    "last_complete_checkpoint",
    "options_changed_since",
    "train",
    "warn_if_english_only_student",
]
