"""Token limits of a model's routes: what training cuts its batches at, and what test time keeps."""

from __future__ import annotations

from contextlib import contextmanager

from sentence_transformers.models import Router


def route_lengths(model) -> dict[str, int | None]:
    """``{route: max_seq_length}`` of a Router model's routes (one entry, ``"all"``, for a plain model)."""
    first = model[0]
    if isinstance(first, Router):
        return {route: getattr(modules[0], "max_seq_length", None) for route, modules in first.sub_modules.items()}
    return {"all": getattr(first, "max_seq_length", None)}


@contextmanager
def cut_at(model, lengths: dict[str, int | None]):
    """Set the routes' token limits to ``lengths`` (as :func:`route_lengths` names them) for
    the duration of the block, then restore them.

    Training cuts its batches at the training length (64 tokens by default) inside this
    block; what is saved, and what the dev evaluator and test time use, are the encoders'
    own limits.
    """
    first = model[0]
    inputs = {route: modules[0] for route, modules in first.sub_modules.items()} if isinstance(first, Router) else {"all": first}
    before = {route: getattr(module, "max_seq_length", None) for route, module in inputs.items()}
    try:
        for route, length in lengths.items():
            if length and route in inputs:
                inputs[route].max_seq_length = length
        yield model
    finally:
        for route, length in before.items():
            if length is not None:
                inputs[route].max_seq_length = length


def training_lengths(model, length: int | None) -> dict[str, int | None]:
    """Every route cut at ``length`` tokens, or at its own limit where that is shorter."""
    return {route: (min(own, length) if own and length else own or length) for route, own in route_lengths(model).items()}
