"""Models: building the teacher/student Router, loading, token limits, provenance, vocabulary.

- :mod:`.building`: one sentence-transformers folder with a ``Router`` (student route for the
  low-resource side, frozen teacher route for the other), centring, freezing.
- :mod:`.loading`: safe loading by packaged name, folder or hub id; a folder's content hash.
- :mod:`.lengths`: the routes' token limits, and cutting training batches shorter.
- :mod:`.provenance`: ``optical_bench_provenance.json`` and the model card's provenance table.
- :mod:`.vocabulary`: vocabulary pruning and transfer (new whole-word pieces from IBM-1).
"""

from optical_bench.models.building import (
    SIDES,
    add_centering,
    build_distillation_model,
    freeze,
    load_encoder,
    other_side,
    student_modules,
    truncate_layers,
)
from optical_bench.models.lengths import cut_at, route_lengths, training_lengths
from optical_bench.models.loading import folder_fingerprint, load_sentence_transformer
from optical_bench.models.provenance import PROVENANCE_FILE, read_provenance, write_provenance
from optical_bench.models.vocabulary import prune_vocabulary, transfer_vocabulary

__all__ = [
    "PROVENANCE_FILE",
    "SIDES",
    "add_centering",
    "build_distillation_model",
    "cut_at",
    "folder_fingerprint",
    "freeze",
    "load_encoder",
    "load_sentence_transformer",
    "other_side",
    "prune_vocabulary",
    "read_provenance",
    "route_lengths",
    "student_modules",
    "training_lengths",
    "transfer_vocabulary",
    "truncate_layers",
    "write_provenance",
]
