"""Data augmentation before distillation (RQ1, RQ2).

* :mod:`optical_bench.augment.mlm` -- continued masked-LM pre-training of the student's
  encoder on target-language monolingual text (RQ1): :func:`mlm_pretrain`,
  :func:`mlm_pretrain_cached`, and :func:`mlm_student_init` (driven by a run's
  :class:`~optical_bench.config.MLMOptions`); its head in :mod:`.mlm_head`, its loop in
  :mod:`.mlm_loop`.
* :mod:`optical_bench.augment.pairs` -- synthetic (forward-translated, code-switched) and
  back-translated pairs mixed into the real bitext (RQ2): :func:`build_augmented_bitext`,
  its parts, and :func:`augment_training_pairs` (driven by a run's
  :class:`~optical_bench.config.AugmentationOptions`).

Importing this package is cheap: torch and transformers are imported only when MLM
pre-training runs.
"""

from optical_bench.augment.mlm import (
    HEADS,
    MLM_PROVENANCE_FILE,
    VOCABULARIES,
    MLMSettings,
    mlm_pretrain,
    mlm_pretrain_cached,
    mlm_student_init,
    texts_fingerprint,
)
from optical_bench.augment.pairs import (
    KINDS,
    augment_training_pairs,
    augmentation_provenance,
    back_translate,
    build_augmented_bitext,
    code_switch,
    forward_translate,
    mix,
    normalize_kind,
    select_texts,
)

__all__ = [
    "HEADS",
    "KINDS",
    "MLM_PROVENANCE_FILE",
    "VOCABULARIES",
    "augment_training_pairs",
    "augmentation_provenance",
    "back_translate",
    "build_augmented_bitext",
    "code_switch",
    "forward_translate",
    "mix",
    "MLMSettings",
    "mlm_pretrain",
    "mlm_pretrain_cached",
    "mlm_student_init",
    "normalize_kind",
    "select_texts",
    "texts_fingerprint",
]
