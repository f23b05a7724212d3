r"""The EM training of :class:`~optical_bench.translate.IBMModel1`, step by step.

:meth:`IBMModel1.fit <optical_bench.translate.IBMModel1.fit>` chains

1. :func:`count_bitext` -- tokenise every sentence pair and count its word *types*
   (``cf`` occurrences of f, ``ce`` of e), the source extended with ``NULL``;
2. :func:`link_layout` -- lay out every co-occurring (f type, e type) link of every pair
   in flat arrays, sorted by the entry of the sparse table ``t`` they read;
3. :func:`run_em` -- the EM iterations on those arrays, recording the log-likelihood.

One iteration, with the link arrays (see the class docstring for the equations):
``q = cf * t[link]``;  ``Z = bincount(group, q)``  (the E-step denominators
:math:`\sum_{i'} t(e_j \mid f_{i'})`);  ``c = bincount(link, q * (ce / Z)[group])``
(the expected counts :math:`c(e, f)`);  ``t = c / bincount(f_of_entry, c)[f_of_entry]``
(the M-step).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import NamedTuple

import numpy as np
from tqdm.auto import tqdm

from optical_bench.translate.tokenizer import NULL, tokenize

__all__ = ["BitextCounts", "LinkLayout", "count_bitext", "e_step_denominators", "index_to_vocab", "link_layout", "run_em"]


class BitextCounts(NamedTuple):
    """Word-type counts of the usable sentence pairs, flat: one pair after the other."""

    src_index: dict[str, int]  #: source word -> id (NULL is 0)
    tgt_index: dict[str, int]  #: target word -> id (NULL is 0 with ``target_null``)
    n_src_types: np.ndarray  #: ``(S,)`` source types of each pair, NULL included
    n_tgt_types: np.ndarray  #: ``(S,)`` target types of each pair
    src_ids: np.ndarray  #: source type ids, pair by pair (NULL first in each)
    src_counts: np.ndarray  #: their counts ``cf`` (float32)
    tgt_ids: np.ndarray  #: target type ids, pair by pair: one (pair, e type) group each
    tgt_counts: np.ndarray  #: their counts ``ce`` (float64)
    log_norm: float  #: :math:`\sum_s m_s \log(l_s + 1)`, the uniform alignment prior
    n_used: int  #: pairs with something to generate


class LinkLayout(NamedTuple):
    """Every (f type, e type) link of every pair, sorted by the table entry it reads."""

    entry_src: np.ndarray  #: ``(n_entries,)`` source id of each entry of ``t``
    entry_tgt: np.ndarray  #: ``(n_entries,)`` target id of each entry
    starts: np.ndarray  #: first link of each entry
    links_per_entry: np.ndarray  #: number of links of each entry
    group: np.ndarray  #: (pair, e type) group of each link
    cf: np.ndarray | None  #: ``cf`` of each link; None when every one is 1
    ce: np.ndarray  #: ``(n_groups,)`` ``ce`` of each group
    n_groups: int
    n_src: int  #: source vocabulary size, NULL included
    n_tgt: int  #: target vocabulary size


def count_bitext(oriented: list[tuple[str, str]], target_null: bool) -> BitextCounts:
    """Tokenise the ``(source, target)`` pairs and count their word types; pairs with no
    target word (and no target NULL) carry no information and are skipped."""
    src_index: dict[str, int] = {NULL: 0}
    tgt_index: dict[str, int] = {NULL: 0} if target_null else {}
    sent_f_ids: list[list[int]] = []  # unique source ids (NULL first), per used pair
    sent_f_cnt: list[list[int]] = []
    sent_e_ids: list[list[int]] = []
    sent_e_cnt: list[list[int]] = []
    log_norm = 0.0  # sum_s m_s * log(l_s + 1): the uniform alignment prior
    n_used = 0
    for src, tgt in oriented:
        f_tokens = tokenize(src)
        e_tokens = tokenize(tgt)
        fc = Counter(f_tokens)
        ec = Counter(e_tokens)
        if target_null:
            ec[NULL] = 1
        if not ec:
            continue  # nothing to generate: the pair carries no information
        n_used += 1
        f_ids = [0] + [src_index.setdefault(w, len(src_index)) for w in fc]
        sent_f_ids.append(f_ids)
        sent_f_cnt.append([1] + list(fc.values()))
        sent_e_ids.append([tgt_index.setdefault(w, len(tgt_index)) for w in ec])
        sent_e_cnt.append(list(ec.values()))
        log_norm += sum(ec.values()) * math.log(len(f_tokens) + 1)
    if not tgt_index:
        raise ValueError("the bitext has no target-side words at all")

    nf = np.fromiter((len(x) for x in sent_f_ids), dtype=np.int64, count=n_used)
    ne = np.fromiter((len(x) for x in sent_e_ids), dtype=np.int64, count=n_used)
    F = np.fromiter((i for x in sent_f_ids for i in x), dtype=np.int64, count=int(nf.sum()))
    CF = np.fromiter((c for x in sent_f_cnt for c in x), dtype=np.float32, count=int(nf.sum()))
    E = np.fromiter((i for x in sent_e_ids for i in x), dtype=np.int64, count=int(ne.sum()))
    CE = np.fromiter((c for x in sent_e_cnt for c in x), dtype=np.float64, count=int(ne.sum()))
    return BitextCounts(src_index, tgt_index, nf, ne, F, CF, E, CE, log_norm, n_used)


def link_layout(counts: BitextCounts) -> LinkLayout:
    """The flat link arrays of :class:`LinkLayout`.  Group g = (pair s, target type e):
    its links go to every source type of s."""
    nf, ne, F, CF, E = counts.n_src_types, counts.n_tgt_types, counts.src_ids, counts.src_counts, counts.tgt_ids
    f_start = np.concatenate([[0], np.cumsum(nf)[:-1]])
    group_sent = np.repeat(np.arange(counts.n_used), ne)  # sentence of each group
    group_size = nf[group_sent]
    n_groups = len(E)
    n_links = int(group_size.sum())
    group = np.repeat(np.arange(n_groups, dtype=np.int32), group_size)
    link_start = np.concatenate([[0], np.cumsum(group_size)[:-1]])
    offset = np.arange(n_links, dtype=np.int64) - np.repeat(link_start, group_size)
    pos_f = np.repeat(f_start[group_sent], group_size) + offset  # index into F / CF
    del offset, link_start
    n_tgt = len(counts.tgt_index)
    key = F[pos_f] * n_tgt + np.repeat(E, group_size)
    del group_sent, group_size
    cf = CF[pos_f]
    del pos_f
    # Sort the links by table entry: the gather t[link] becomes a sequential
    # np.repeat and the scatter into c(e, f) a segmented sum (np.add.reduceat);
    # only the small per-group arrays are accessed at random.
    order = np.argsort(key)
    key = key[order]
    is_first = np.empty(n_links, dtype=bool)
    is_first[0] = True
    np.not_equal(key[1:], key[:-1], out=is_first[1:])
    starts = np.flatnonzero(is_first)
    del is_first
    uniq = key[starts]
    del key
    links_per_entry = np.diff(starts, append=n_links)
    group = group[order]
    cf = cf[order]
    del order
    entry_src = (uniq // n_tgt).astype(np.int32)
    entry_tgt = (uniq % n_tgt).astype(np.int32)
    del uniq
    if np.all(cf == 1.0):
        cf = None  # the common case: save one multiply per iteration
    n_src = len(counts.src_index)
    return LinkLayout(entry_src, entry_tgt, starts, links_per_entry, group, cf, counts.tgt_counts, n_groups, n_src, n_tgt)


def e_step_denominators(links: LinkLayout, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(q, Z)``: ``cf * t(e|f)`` of every link, and its sum over each group."""
    q = np.repeat(t, links.links_per_entry)  # t(e|f) of every link
    if links.cf is not None:
        q *= links.cf
    return q, np.bincount(links.group, weights=q, minlength=links.n_groups)


def run_em(links: LinkLayout, log_norm: float, n_iter: int, tol: float | None, progress: bool) -> tuple[np.ndarray, list[float]]:
    """``n_iter`` EM iterations from the uniform table (fewer once the relative gain in
    log-likelihood is at most ``tol``).  Returns the table ``t`` (one probability per
    entry) and ``history``, where ``history[k]`` is the log-likelihood of the bitext
    under the table after ``k`` iterations."""
    t = np.full(len(links.entry_src), 1.0 / links.n_tgt)
    history: list[float] = []
    bar = tqdm(range(int(n_iter)), desc="IBM Model 1 EM", unit="it", disable=not progress)
    for _ in bar:
        q, Z = e_step_denominators(links, t)
        history.append(float(links.ce @ np.log(Z)) - log_norm)
        q *= (links.ce / Z)[links.group]  # ce * p(a = f | e, sentence), per link
        counts = np.add.reduceat(q, links.starts)  # c(e, f)
        del q
        totals = np.bincount(links.entry_src, weights=counts, minlength=links.n_src)
        t = counts / totals[links.entry_src]
        bar.set_postfix(loglik=f"{history[-1]:.6g}")
        if tol is not None and len(history) > 1:
            gain = history[-1] - history[-2]
            if gain <= tol * abs(history[-2]):
                break
    bar.close()
    # Log-likelihood of the final table (one more E-step denominator).
    _, Z = e_step_denominators(links, t)
    history.append(float(links.ce @ np.log(Z)) - log_norm)
    return t, history


def index_to_vocab(index: dict[str, int]) -> list[str]:
    """The words of ``index`` (word -> id, ids 0..n-1) in id order."""
    vocab: list = [None] * len(index)
    for w, i in index.items():
        vocab[i] = w
    return vocab
