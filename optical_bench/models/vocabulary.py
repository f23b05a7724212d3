"""The student's vocabulary: pruning it, and giving it whole low-resource words.

**Pruning** (:func:`prune_vocabulary`) keeps only the sub-word pieces a corpus uses: the
250k-piece XLM-R embedding matrix is 96M of multilingual-e5-small's 118M parameters, and
the optimiser pays for every row.

**Vocabulary transfer** (:func:`transfer_vocabulary`) is for students whose tokenizer
has never seen the low-resource language (all-MiniLM-L6-v2's English WordPiece cuts a
Chichewa verse into about twice as many pieces as its English translation, none of
which means anything in Chichewa). It adds the most frequent low-resource words of the
bitext to the student's vocabulary as whole-word pieces and initialises each one from
the English words it translates to, with an IBM Model 1 lexicon
(:class:`~optical_bench.translate.IBMModel1`) learnt from the same bitext:

.. math::

    E'[f] \\;=\\; \\frac{\\sum_{e \\in \\mathrm{top}_k(f)} t(e \\mid f)\\, \\bar E(e)}
                       {\\sum_{e \\in \\mathrm{top}_k(f)} t(e \\mid f)},
    \\qquad
    \\bar E(e) \\;=\\; \\frac{1}{|\\pi(e)|} \\sum_{p \\in \\pi(e)} E[p],

where :math:`E` is the student's input-embedding matrix, :math:`\\pi(e)` the pieces the
*original* tokenizer cuts the English word :math:`e` into, and :math:`\\mathrm{top}_k(f)`
the ``k`` most probable non-NULL translations of :math:`f`. Before any training the
student therefore reads a Chichewa sentence much as it would read a word-by-word English
gloss of it; distillation then only has to fix what a gloss gets wrong. The idea is the
one of WECHSEL (Minixhofer et al., NAACL 2022) and FOCUS (Dobler & de Melo, EMNLP 2023),
with the bilingual signal taken from the bitext itself rather than from static word
vectors.

Both functions rewrite the fast tokenizer's ``tokenizer.json`` (WordPiece or Unigram) and
the embedding matrix together, so the result is still a plain sentence-transformers folder.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence

import torch
from torch import nn

logger = logging.getLogger(__name__)

SUPPORTED_MODELS = ("WordPiece", "Unigram")


def _tokenizer_spec(transformer_module) -> tuple[object, dict]:
    tokenizer = transformer_module.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("Changing the vocabulary needs a fast (tokenizers-backed) tokenizer; this model has a slow one.")
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    if spec["model"]["type"] not in SUPPORTED_MODELS:
        raise ValueError(f"Vocabulary changes support {' and '.join(SUPPORTED_MODELS)} tokenizers, not {spec['model']['type']}.")
    return tokenizer, spec


def _install_tokenizer(transformer_module, old_tokenizer, spec: dict) -> None:
    """Replace the module's tokenizer by one built from ``spec`` (same special tokens)."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_str(json.dumps(spec))
    special = {
        name: getattr(old_tokenizer, name)
        for name in ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
        if getattr(old_tokenizer, name, None)
    }
    new_tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=old_tokenizer.model_max_length, **special)
    if isinstance(transformer_module.processor, type(old_tokenizer)) or transformer_module.processor is old_tokenizer:
        transformer_module.processor = new_tokenizer
    else:  # a processor wrapping the tokenizer
        transformer_module.processor.tokenizer = new_tokenizer


# --------------------------------------------------------------------------- pruning


def prune_vocabulary(transformer_module, texts: Sequence[str], keep_ids: Iterable[int] = ()) -> dict:
    """Keep only the embedding rows (and tokenizer pieces) that ``texts`` use.

    The fast tokenizer's ``tokenizer.json`` is rewritten with the kept pieces renumbered
    0..K-1 in their original order (Unigram scores and WordPiece prefixes unchanged), the
    special tokens and post-processor ids remapped, and the word-embedding matrix sliced to
    the same rows, so tokenisation of ``texts`` is unchanged and only ids differ.
    """
    tokenizer, spec = _tokenizer_spec(transformer_module)
    used: set[int] = set(int(i) for i in keep_ids)
    used.update(int(i) for i in tokenizer.all_special_ids)
    for start in range(0, len(texts), 512):
        for ids in tokenizer(list(texts[start : start + 512]), add_special_tokens=True)["input_ids"]:
            used.update(ids)
    model_spec = spec["model"]
    kept = sorted(used)
    old_to_new = {old: new for new, old in enumerate(kept)}
    if model_spec["type"] == "Unigram":
        vocab = model_spec["vocab"]
        model_spec["vocab"] = [vocab[old] for old in kept]
        if model_spec.get("unk_id") is not None:
            model_spec["unk_id"] = old_to_new[model_spec["unk_id"]]
    else:  # WordPiece
        inverse = {index: piece for piece, index in model_spec["vocab"].items()}
        model_spec["vocab"] = {inverse[old]: new for new, old in enumerate(kept)}
    for added in spec.get("added_tokens", []):
        if added["id"] in old_to_new:
            added["id"] = old_to_new[added["id"]]
    post = spec.get("post_processor") or {}
    processors = post.get("processors", [post]) if post else []
    for processor in processors:
        for special in (processor.get("special_tokens") or {}).values():
            special["ids"] = [old_to_new[i] for i in special.get("ids", [])]
        for key in ("sep", "cls"):
            if isinstance(processor.get(key), list) and len(processor[key]) == 2:
                processor[key][1] = old_to_new[processor[key][1]]
    _install_tokenizer(transformer_module, tokenizer, spec)
    embeddings = transformer_module.auto_model.get_input_embeddings()
    index = torch.tensor(kept, dtype=torch.long)
    padding_idx = old_to_new.get(tokenizer.pad_token_id) if tokenizer.pad_token_id is not None else None
    new_embeddings = nn.Embedding(len(kept), embeddings.weight.shape[1], padding_idx=padding_idx)
    with torch.no_grad():
        new_embeddings.weight.copy_(embeddings.weight[index])
    transformer_module.auto_model.set_input_embeddings(new_embeddings)
    config = transformer_module.auto_model.config
    config.vocab_size = len(kept)
    if tokenizer.pad_token_id is not None:
        config.pad_token_id = old_to_new[tokenizer.pad_token_id]
    return {"before": len(tokenizer), "after": len(kept)}


# --------------------------------------------------------------------------- vocabulary transfer


def whole_word_piece(backend_tokenizer, word: str) -> str | None:
    """The piece ``word`` would be as one whole-word token, or None if the tokenizer's
    normaliser and pre-tokeniser do not keep it as a single pre-token (e.g. BERT splits
    ``n'gona`` at the apostrophe). WordPiece: the normalised word; Unigram/Metaspace:
    ``"▁" + word``."""
    normalizer, pre_tokenizer = backend_tokenizer.normalizer, backend_tokenizer.pre_tokenizer
    text = normalizer.normalize_str(word) if normalizer is not None else word
    pieces = pre_tokenizer.pre_tokenize_str(text) if pre_tokenizer is not None else [(text, (0, len(text)))]
    if len(pieces) != 1 or not pieces[0][0].strip("\u2581"):
        return None
    return pieces[0][0]


def lexicon_embeddings(
    tokenizer, embeddings: torch.Tensor, lexicon: dict[str, list[tuple[str, float]]], words: Sequence[str]
) -> dict[str, torch.Tensor]:
    """:math:`E'[f]` of the module docstring for each word ``f`` of ``words`` whose lexicon
    entries have at least one English word the tokenizer can embed (no piece is ``[UNK]``)."""
    unk = tokenizer.unk_token_id
    cache: dict[str, torch.Tensor | None] = {}

    def english(word: str) -> torch.Tensor | None:
        if word not in cache:
            ids = tokenizer(word, add_special_tokens=False)["input_ids"]
            cache[word] = embeddings[ids].mean(dim=0) if ids and unk not in ids else None
        return cache[word]

    out = {}
    for word in words:
        vectors, weights = [], []
        for translation, prob in lexicon.get(word, []):
            vector = english(translation)
            if vector is not None:
                vectors.append(vector)
                weights.append(prob)
        if vectors:
            weight = torch.tensor(weights, dtype=embeddings.dtype).unsqueeze(1)
            out[word] = (weight * torch.stack(vectors)).sum(dim=0) / weight.sum()
    return out


def extend_vocabulary(transformer_module, new_rows: dict[str, torch.Tensor]) -> dict:
    """Append whole-word pieces with the given input-embedding rows.

    ``new_rows`` maps a *piece* (see :func:`whole_word_piece`) to its embedding. WordPiece
    matches the longest piece from a word's start, so a word that is now in the vocabulary
    becomes one token; a Unigram piece gets the highest score of the vocabulary, so the
    Viterbi segmentation prefers it to any split of the same word. New ids follow the
    existing ones, so every old piece keeps its id and its embedding.

    Other words may be cut differently afterwards: with WordPiece only words that are not
    one piece already and begin with an added word (``ndi`` in ``ndine``); with Unigram any
    word whose best segmentation can now use an added piece. Words that were one WordPiece
    piece (all of an English vocabulary's words) are read exactly as before.
    """
    tokenizer, spec = _tokenizer_spec(transformer_module)
    model_spec = spec["model"]
    if model_spec["type"] == "Unigram":
        existing = {piece for piece, _ in model_spec["vocab"]}
        size = len(model_spec["vocab"])
    else:
        existing = set(model_spec["vocab"])
        size = max(model_spec["vocab"].values()) + 1
    if any(added["id"] >= size for added in spec.get("added_tokens", [])):
        raise ValueError("This tokenizer has added tokens after its vocabulary; vocabulary transfer cannot append pieces to it.")
    pieces = [piece for piece in new_rows if piece not in existing]
    if not pieces:
        return {"before": len(tokenizer), "after": len(tokenizer), "added": 0}
    if model_spec["type"] == "Unigram":
        top = max(score for _, score in model_spec["vocab"])
        model_spec["vocab"].extend([piece, top] for piece in pieces)
    else:
        for offset, piece in enumerate(pieces):
            model_spec["vocab"][piece] = size + offset
    _install_tokenizer(transformer_module, tokenizer, spec)
    auto_model = transformer_module.auto_model
    old = auto_model.get_input_embeddings()
    new = nn.Embedding(size + len(pieces), old.weight.shape[1], padding_idx=old.padding_idx)
    with torch.no_grad():
        new.weight[:size] = old.weight[:size]
        new.weight[size:] = torch.stack([new_rows[piece] for piece in pieces]).to(old.weight.dtype)
    new.weight.requires_grad_(old.weight.requires_grad)
    auto_model.set_input_embeddings(new)
    auto_model.config.vocab_size = size + len(pieces)
    return {"before": size, "after": size + len(pieces), "added": len(pieces)}


def _mean_pieces(tokenizer, texts: Sequence[str]) -> float:
    encodings = tokenizer.backend_tokenizer.encode_batch(list(texts), add_special_tokens=False)
    return sum(len(encoding.ids) for encoding in encodings) / max(1, len(encodings))


def transfer_vocabulary(
    transformer_module,
    pairs: Sequence[tuple[str, str]],
    *,
    max_words: int | None = None,
    min_count: int = 2,
    top_k: int = 3,
    min_prob: float = 0.05,
    ibm1_iterations: int = 10,
    progress: bool = False,
) -> dict:
    """Add the low-resource words of ``pairs`` (``(low-resource, English)`` texts) to the
    student's vocabulary, initialised from their English translations (module docstring).

    Words are taken most frequent first, at least ``min_count`` occurrences, at most
    ``max_words`` (None: all), skipping words that are already one piece and words the
    tokenizer would split before sub-word segmentation. Returns what was done, for the
    model card: words added, pieces per low-resource text before and after, examples.
    """
    from optical_bench.translate import IBMModel1, tokenize

    started = time.perf_counter()
    if not pairs:
        raise ValueError("Vocabulary transfer needs a bitext; it got no pairs.")
    tokenizer, _ = _tokenizer_spec(transformer_module)
    low_resource = [lr for lr, _ in pairs]
    counts = Counter(word for text in low_resource for word in tokenize(text))
    model = IBMModel1(direction="forward").fit(pairs, n_iter=ibm1_iterations, progress=progress)
    lexicon = model.lexicon(top_k=top_k, min_prob=min_prob)
    backend = tokenizer.backend_tokenizer
    vocab = tokenizer.get_vocab()
    candidates: dict[str, str] = {}  # piece -> word
    for word, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        if count < min_count or (max_words is not None and len(candidates) >= max_words):
            break
        piece = whole_word_piece(backend, word)
        if piece is None or piece in vocab or piece in candidates or word not in lexicon:
            continue
        candidates[piece] = word
    sample = low_resource[: min(len(low_resource), 2000)]
    pieces_before = _mean_pieces(tokenizer, sample)
    matrix = transformer_module.auto_model.get_input_embeddings().weight.detach()
    by_word = lexicon_embeddings(tokenizer, matrix, lexicon, list(candidates.values()))
    rows = {piece: by_word[word] for piece, word in candidates.items() if word in by_word}
    stats = extend_vocabulary(transformer_module, rows)
    new_tokenizer = transformer_module.tokenizer
    pieces_after = _mean_pieces(new_tokenizer, sample)
    examples = {candidates[piece]: [w for w, _ in lexicon[candidates[piece]]] for piece in list(rows)[:8]}
    record = {
        "words_added": stats["added"],
        "vocabulary_before": stats["before"],
        "vocabulary_after": stats["after"],
        "lexicon": model.describe() | {"top_k": top_k, "min_prob": min_prob},
        "min_count": min_count,
        "pieces_per_text_before": round(pieces_before, 2),
        "pieces_per_text_after": round(pieces_after, 2),
        "examples": examples,
        "seconds": round(time.perf_counter() - started, 1),
    }
    logger.info("vocabulary transfer: %s", record)
    return record
