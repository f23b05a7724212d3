"""Teacher and student construction: one sentence-transformers folder with a Router.

The distilled model is an ordinary :class:`~sentence_transformers.SentenceTransformer`
whose single module is a ``Router``:

- the **student** route encodes the low-resource side (``query`` by default; the
  ``document`` route for collections such as CIRAL whose documents are low-resource);
- the **teacher** route encodes the other side and is frozen.

``SentenceTransformer(path)`` loads it anywhere with no optical-bench code: mteb calls
``encode_query`` for queries and ``encode_document`` for documents, so each goes to the
right encoder. Everything we add is made of standard modules (``Transformer``,
``Pooling``, ``Normalize``, ``Dense``), e.g. language-mean centring is a ``Dense`` layer
with identity weights and bias ``-mu``.

Options: a student initialised from another encoder of the same output width (OT needs
no shared tokenizer), layer truncation, and vocabulary pruning (keep only the sub-word
pieces a corpus uses: the 250k-piece XLM-R embedding matrix is 96M of the student's
118M parameters, and the optimiser pays for every row).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Sequence

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.models import Dense, Normalize, Router
from torch import nn

from optical_bench.models.loading import load_sentence_transformer
from optical_bench.models.vocabulary import prune_vocabulary

logger = logging.getLogger(__name__)

SIDES = ("query", "document")


def other_side(side: str) -> str:
    if side not in SIDES:
        raise ValueError(f"Unknown side {side!r}: use 'query' or 'document'.")
    return "document" if side == "query" else "query"


def load_encoder(spec: str, device: str = "cpu", trust_remote_code: bool = False):
    return load_sentence_transformer(spec, device=device, trust_remote_code=trust_remote_code)


def _plain_modules(model) -> list[nn.Module]:
    """The module list of a model; a Router's student route if it is already a Router."""
    modules = list(model)
    if modules and isinstance(modules[0], Router):
        router = modules[0]
        route = "query" if "query" in router.sub_modules else router.default_route
        return list(router.sub_modules[route])
    return modules


def truncate_layers(transformer_module, n_layers: int) -> None:
    """Keep the first ``n_layers`` encoder layers of a BERT/XLM-R-like Transformer module."""
    auto_model = transformer_module.auto_model
    encoder = getattr(auto_model, "encoder", None)
    if encoder is None or not hasattr(encoder, "layer"):
        raise ValueError(f"Cannot truncate {type(auto_model).__name__}: no encoder.layer list (BERT-like models only).")
    total = len(encoder.layer)
    if not 1 <= n_layers <= total:
        raise ValueError(f"--truncate-layers {n_layers}: the model has {total} layers; choose 1..{total}.")
    encoder.layer = nn.ModuleList(list(encoder.layer)[:n_layers])
    auto_model.config.num_hidden_layers = n_layers


def freeze(modules: Iterable[nn.Module]) -> None:
    for module in modules:
        for parameter in module.parameters():
            parameter.requires_grad_(False)
        module.eval()


def build_distillation_model(
    teacher: str,
    student_init: str | None = None,
    *,
    student_side: str = "query",
    truncate_student_layers: int | None = None,
    prune_vocabulary_texts: Sequence[str] | None = None,
    student_max_seq_length: int | None = None,
    device: str = "cpu",
):
    """A SentenceTransformer with a Router: student on ``student_side``, frozen teacher on the other.

    Args:
        teacher: the well-trained retriever (packaged name, folder or hub id).
        student_init: the student's initial encoder (default: a copy of the teacher). It
            must produce embeddings of the teacher's width.
        student_side: ``"query"`` (default) or ``"document"``: which side is low-resource.
        truncate_student_layers: keep only the first N layers of the student.
        prune_vocabulary_texts: if given, prune the student's vocabulary to the pieces
            these texts use (plus special tokens).
        student_max_seq_length: the student route's token limit at test time (default: that of
            the encoder it starts from). The teacher route always keeps the teacher's own limit;
            training batches are cut separately (:func:`cut_at`).

    The Router has no default route: a plain ``model.encode(texts)`` raises and asks for
    ``encode_query`` or ``encode_document``, instead of silently encoding queries with the
    document route (the teacher). Use :class:`optical_bench.beir_model.RoutedBEIRModel` with
    BEIR's retrieval classes.
    """
    teacher_model = load_encoder(teacher, device=device)
    teacher_modules = _plain_modules(teacher_model)
    if student_init is None or student_init == teacher:
        student_modules = copy.deepcopy(teacher_modules)
    else:
        student_modules = _plain_modules(load_encoder(student_init, device=device))
        student_dim = _output_dim(student_modules)
        teacher_dim = _output_dim(teacher_modules)
        if student_dim != teacher_dim:
            raise ValueError(
                f"The student {student_init!r} outputs {student_dim}-d embeddings but the teacher {teacher!r} outputs {teacher_dim}-d. "
                "Fix: choose a student of the same width (OT compares token embeddings directly)."
            )
    if truncate_student_layers:
        truncate_layers(student_modules[0], truncate_student_layers)
    if prune_vocabulary_texts is not None:
        prompts = [p for p in (teacher_model.prompts or {}).values() if p] or [""]
        prune_vocabulary(student_modules[0], [prompt + text for prompt in prompts for text in prune_vocabulary_texts])
    if student_max_seq_length:
        student_modules[0].max_seq_length = student_max_seq_length
    freeze(teacher_modules)
    routes = {student_side: student_modules, other_side(student_side): teacher_modules}
    router = Router.for_query_document(
        query_modules=routes["query"], document_modules=routes["document"], default_route=None, allow_empty_key=False
    )
    model = SentenceTransformer(modules=[router], prompts=dict(teacher_model.prompts or {}), device=device)
    return model


def _output_dim(modules: list[nn.Module]) -> int:
    for module in reversed(modules):
        get = getattr(module, "get_embedding_dimension", None) or getattr(module, "get_sentence_embedding_dimension", None)
        if callable(get) and get():
            return int(get())
    raise ValueError("Cannot tell the output width of the encoder.")


def student_modules(model, side: str | None = None) -> list[nn.Module]:
    """The student route's modules of a Router model."""
    router = model[0]
    if not isinstance(router, Router):
        raise ValueError("Not a distillation model (its first module is not a Router).")
    side = side or ("query" if any(p.requires_grad for p in router.sub_modules["query"].parameters()) else "document")
    return list(router.sub_modules[side])


def add_centering(model, mean: torch.Tensor, side: str = "query") -> None:
    """Subtract ``mean`` from the ``side`` route's embeddings and renormalise (standard modules only).

    .. math:: e'(x) = \\frac{e(x) - \\mu}{\\lVert e(x) - \\mu \\rVert_2}

    with :math:`\\mu` the mean embedding of low-resource *training-side* text (never test
    queries). Implemented as ``Dense(W=I, b=-mu, identity activation)`` + ``Normalize``.
    """
    dim = int(mean.numel())
    append_affine(model, torch.eye(dim), -mean.detach().float().cpu(), side=side, trainable=False, caller="add_centering")


def append_affine(model, weight: torch.Tensor, bias: torch.Tensor, *, side: str, trainable: bool, caller: str = "append_affine") -> None:
    """Append ``Dense(x -> x W^T + b, identity activation)`` and ``Normalize`` to the ``side`` route of a
    Router model; ``weight`` is ``[out, in]`` as in ``nn.Linear``. Frozen unless ``trainable``."""
    router = model[0]
    if not isinstance(router, Router):
        raise ValueError(f"{caller} needs a Router model; build one with build_distillation_model.")
    d_out, d_in = weight.shape
    dense = Dense(in_features=d_in, out_features=d_out, bias=True, activation_function=nn.Identity())
    with torch.no_grad():
        dense.linear.weight.copy_(weight)
        dense.linear.bias.copy_(bias)
    if not trainable:
        freeze([dense])
    route = router.sub_modules[side]
    route.append(dense)
    route.append(Normalize())


# --------------------------------------------------------------------------- provenance
