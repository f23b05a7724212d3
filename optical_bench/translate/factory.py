"""Build a translator from a configuration string: :func:`make_translator`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from optical_bench.translate.ibm1 import IBMModel1
from optical_bench.translate.seq2seq import HFSeq2SeqTranslator

__all__ = ["make_translator"]

_IBM1_SPECS = {"ibm1", "ibm-1", "ibm_model_1", "ibm-model-1", "ibm_1"}
_IBM1_INIT = {"direction", "target_null", "src_lang", "tgt_lang"}
_IBM1_FIT = {"n_iter", "progress", "tol"}


def _named_bitext(name: str):
    """The pairs of a named bitext source (``mafand-hau``: all its train pairs), or ``None`` for a path."""
    from optical_bench.data.sources import ALL_PAIRS, DataOptions, named_source, resolve_training_data

    if not named_source(name):
        return None
    return resolve_training_data(DataOptions(bitext=name, bitext_size=ALL_PAIRS)).pairs()


def _fit_ibm1(bitext, kw: dict[str, Any]):
    """IBM Model 1 learnt from ``bitext`` with the constructor and fit options of ``kw``."""
    unknown = set(kw) - _IBM1_INIT - _IBM1_FIT
    if unknown:
        raise TypeError(f"unexpected option(s) for 'ibm1': {sorted(unknown)}; allowed: {sorted(_IBM1_INIT | _IBM1_FIT)}")
    model = IBMModel1(**{k: v for k, v in kw.items() if k in _IBM1_INIT})
    return model.fit(bitext, **{k: v for k, v in kw.items() if k in _IBM1_FIT})


def make_translator(spec: str, bitext: Iterable[Sequence[str]] | None = None, **kw: Any):
    """Build a translator from a configuration string.

    * ``"ibm1"``: an :class:`IBMModel1` fitted on ``bitext`` (``(low-resource, English)``
      pairs; required).  ``kw``: ``direction``, ``target_null``, ``src_lang``,
      ``tgt_lang`` (constructor) and ``n_iter``, ``progress``, ``tol`` (fit).
    * ``"ibm1:PATH"``: an :class:`IBMModel1` loaded from a file written by ``save``
      (``bitext`` is ignored); ``"ibm1:mafand-hau"`` (a named bitext source of
      :mod:`optical_bench.data.sources`): one fitted here on all that source's train pairs.
    * anything else: ``HFSeq2SeqTranslator(spec, **kw)`` -- a hub id or a local
      folder (``bitext`` is ignored: the model is already trained).

    Every result has ``translate_batch(list[str]) -> list[str]`` and ``describe()``.
    """
    if not isinstance(spec, str):
        raise TypeError(f"translator spec must be a string, got {type(spec).__name__}")
    name = spec.strip()
    if not name:
        raise ValueError("empty translator spec: use 'ibm1' or a Hugging Face seq2seq model id")
    low = name.lower()
    if low in _IBM1_SPECS:
        if bitext is None:
            raise ValueError("translator 'ibm1' is learnt from bitext: pass bitext=[(low_resource, english), ...]")
        return _fit_ibm1(bitext, kw)
    for prefix in _IBM1_SPECS:
        if low.startswith(prefix + ":"):
            target = name[len(prefix) + 1 :]
            source = _named_bitext(target)
            if source is not None:  # "ibm1:mafand-hau": learnt here from that named bitext (all its train pairs)
                return _fit_ibm1([(p.lr, p.en) for p in source], kw)
            if kw:
                raise TypeError(f"a saved IBM Model 1 takes no options, got {sorted(kw)}")
            return IBMModel1.load(target)
    loading = {key: kw.pop(key) for key in ("revision", "torch_dtype") if key in kw}  # from_pretrained's
    return HFSeq2SeqTranslator(name, **kw, load_kwargs=loading or None)
