"""Shared fixtures: offline environment, a private cache folder, tiny random models and data.

Unit tests use tiny random BERTs with a WordPiece tokenizer trained here on a few
sentences (seconds on 2 cores). Tests marked ``real`` use the packaged models and texts.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import pytest

LOW_RESOURCE = [
    "moni bwanji lero",
    "zikomo kwambiri bwana",
    "galu akuthamanga mu munda",
    "mphaka wakhala pa mphasa",
    "ndikufuna madzi ozizira",
    "mvula ikugwa kwambiri lero",
    "ana akusewera panja",
    "buku ili ndi labwino",
    "mkazi akuphika nsima",
    "bambo akupita ku msika",
    "mtsinje uli ndi madzi ambiri",
    "nyumba yathu ndi yaikulu",
]
ENGLISH = [
    "hello how are you today",
    "thank you very much sir",
    "the dog runs in the field",
    "the cat sat on the mat",
    "i want cold water",
    "it is raining heavily today",
    "the children are playing outside",
    "this book is good",
    "the woman is cooking porridge",
    "father is going to the market",
    "the river has much water",
    "our house is big",
]
HIDDEN = 32


@pytest.fixture(scope="session", autouse=True)
def cache_home(tmp_path_factory):
    """A private cache folder for the session (CI may set OPTICAL_BENCH_HOME to reuse one)."""
    if not os.environ.get("OPTICAL_BENCH_HOME"):
        os.environ["OPTICAL_BENCH_HOME"] = str(tmp_path_factory.mktemp("optical_bench_home"))
    return Path(os.environ["OPTICAL_BENCH_HOME"])


def train_wordpiece(sentences, vocab_size: int = 300):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(sentences, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    return BertTokenizerFast(tokenizer_object=tokenizer, model_max_length=64)


def train_unigram(sentences, vocab_size: int = 200):
    """An XLM-R-like Unigram tokenizer: <s> $A </s>, specials <s> <pad> </s> <unk> <mask>."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.train_from_iterator(sentences, trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>"))
    bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        model_max_length=64,
    )


def save_tiny_sentence_transformer(path: Path, seed: int = 0, tokenizer=None, layers: int = 2) -> Path:
    """A tiny random BERT wrapped as a sentence-transformers folder (mean pooling + normalize)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel

    tokenizer = tokenizer or train_wordpiece(LOW_RESOURCE + ENGLISH)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    hf = path.parent / f".{path.name}-hf"
    BertModel(config).save_pretrained(hf)
    tokenizer.save_pretrained(hf)
    transformer = Transformer(str(hf), max_seq_length=32)
    model = SentenceTransformer(modules=[transformer, Pooling(HIDDEN, pooling_mode="mean"), Normalize()], device="cpu")
    model.save(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return save_tiny_sentence_transformer(tmp_path_factory.mktemp("tiny") / "teacher", seed=0)


@pytest.fixture(scope="session")
def tiny_model_other(tmp_path_factory) -> Path:
    return save_tiny_sentence_transformer(tmp_path_factory.mktemp("tiny_other") / "other", seed=1, layers=3)


def write_beir(folder: Path, queries: dict, corpus: dict, qrels: dict, split: str = "test") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as handle:
        for did, text in corpus.items():
            handle.write(json.dumps({"_id": did, "title": "", "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as handle:
        for qid, text in queries.items():
            handle.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    with open(folder / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        for qid, docs in qrels.items():
            for did, rel in docs.items():
                handle.write(f"{qid}\t{did}\t{rel}\n")
    return folder


@pytest.fixture
def tiny_beir(tmp_path) -> Path:
    """Low-resource queries against their English translations (known-item)."""
    queries = {f"q{i}": text for i, text in enumerate(LOW_RESOURCE)}
    corpus = {f"d{i}": text for i, text in enumerate(ENGLISH)}
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(len(LOW_RESOURCE))}
    return write_beir(tmp_path / "tiny-beir", queries, corpus, qrels)


@pytest.fixture
def tiny_bitext(tmp_path) -> Path:
    path = tmp_path / "bitext.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for index, (lr, en) in enumerate(zip(LOW_RESOURCE * 4, ENGLISH * 4)):
            handle.write(json.dumps({"id": str(index), "lr": lr, "en": en}) + "\n")
    return path


@contextlib.contextmanager
def lock_held_by_another_process(folder: Path, what: str, seconds: float = 60):
    """Another process holding ``folder_lock(folder, what)`` for ``seconds`` (killed on exit); yields its pid."""
    import subprocess
    import sys

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from optical_bench.io import folder_lock\n"
            f"with folder_lock({str(folder)!r}, {what!r}):\n    print('held', flush=True); time.sleep({seconds})",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def mirror_root(repo: str) -> Path | None:
    """The shared mirrors folder that holds ``github.com/<repo>`` ($OPTICAL_BENCH_MIRRORS, else
    <repo>/../shared/mirrors, else /work/shared/mirrors), or None."""
    candidates = [
        os.environ.get("OPTICAL_BENCH_MIRRORS"),
        Path(__file__).resolve().parents[2] / "shared" / "mirrors",
        "/work/shared/mirrors",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "github.com" / repo).is_dir():
            return Path(candidate)
    return None
