"""Tests for optical_bench.losses on a tiny random student/teacher Router model (no downloads)."""

from __future__ import annotations

import copy
import logging
import math

import pytest
import torch
from conftest import train_wordpiece
from datasets import Dataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator
from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Router, Transformer
from transformers import BertConfig, BertModel

import optical_bench.losses.optimal_transport as ot_loss_module
from optical_bench.config import OTOptions
from optical_bench.losses import (
    DistillationLoss,
    EnglishAnchor,
    InBatchContrastiveLoss,
    InfoNCE,
    OptimalTransportLoss,
    SentenceMSE,
    TokenOT,
)
from optical_bench.ot import compute_idf

HIDDEN = 32

LOW_RESOURCE = [
    "moni bwanji lero",
    "zikomo kwambiri bwana",
    "galu akuthamanga mu munda",
    "mphaka wakhala pa mphasa",
    "ndikufuna madzi ozizira",
    "mvula ikugwa kwambiri lero",
    "ana akusewera panja",
    "buku ili ndi labwino",
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
]


def _save_tiny_bert(path, tokenizer, seed: int) -> str:
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def bert_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_bert")
    shared = train_wordpiece(LOW_RESOURCE + ENGLISH)
    other = train_wordpiece(LOW_RESOURCE, vocab_size=120)
    return {"teacher": _save_tiny_bert(root / "teacher", shared, seed=0), "other_tokenizer": _save_tiny_bert(root / "other", other, seed=1)}


def _router_model(bert_dirs, student: str = "copy") -> SentenceTransformer:
    teacher = Transformer(bert_dirs["teacher"], max_seq_length=32)
    if student == "copy":
        student_module = copy.deepcopy(teacher)
    else:
        student_module = Transformer(bert_dirs[student], max_seq_length=32)
    teacher.requires_grad_(False)
    router = Router.for_query_document(
        query_modules=[student_module, Pooling(HIDDEN), Normalize()], document_modules=[teacher, Pooling(HIDDEN), Normalize()]
    )
    return SentenceTransformer(modules=[router], device="cpu")


def _features(model: SentenceTransformer, lr: list[str], en: list[str]) -> list[dict]:
    return [model.preprocess(lr, task="query"), model.preprocess(en, task="document")]


def _params(model: SentenceTransformer, route: str) -> dict[str, torch.Tensor]:
    router = model[0]
    return {name: p.detach().clone() for name, p in router.sub_modules[route].named_parameters()}


def _changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> bool:
    return any(not torch.equal(before[name], after[name]) for name in before)


# ---------------------------------------------------------------------------
# Training with SentenceTransformerTrainer
# ---------------------------------------------------------------------------


def _loss(
    model,
    ot_weight=1.0,
    mse_weight=0.0,
    contrastive_weight=0.0,
    anchor_weight=0.0,
    *,
    temperature=0.05,
    return_components=False,
    student_idf=None,
    teacher_idf=None,
    student_route="query",
    teacher_route="document",
    **ot_fields,
) -> DistillationLoss:
    """The weighted composition of the four terms, as a training method builds it."""
    ot = OTOptions(**ot_fields)
    terms = {
        "ot": (ot_weight, TokenOT(ot, student_idf=student_idf, teacher_idf=teacher_idf)),
        "mse": (mse_weight, SentenceMSE()),
        "contrastive": (contrastive_weight, InfoNCE(temperature)),
        "anchor": (anchor_weight, EnglishAnchor()),
    }
    return DistillationLoss(model, terms, student_route=student_route, teacher_route=teacher_route, return_components=return_components)


CONFIGURATIONS = {
    "ot_only": {"ot_weight": 1.0},
    "mse_only": {"ot_weight": 0.0, "mse_weight": 1.0},
    "contrastive_only": {"ot_weight": 0.0, "contrastive_weight": 1.0},
    "ot_mse_contrastive": {"ot_weight": 1.0, "mse_weight": 1.0, "contrastive_weight": 0.5},
}


def _collated_batches(model: SentenceTransformer, batch_size: int = 4):
    """Batches exactly as SentenceTransformerTrainer builds them: its data collator with the
    router_mapping, then its collect_features (which needs no trainer state)."""
    collator = SentenceTransformerDataCollator(preprocess_fn=model.preprocess, router_mapping={"lr": "query", "en": "document"})
    rows = [{"lr": lr, "en": en} for lr, en in zip(LOW_RESOURCE, ENGLISH)]
    for start in range(0, len(rows), batch_size):
        batch = collator(rows[start : start + batch_size])
        yield SentenceTransformerTrainer.collect_features(None, batch)


def _check_terms(loss: OptimalTransportLoss, config: str) -> None:
    terms = loss.last_terms
    active = {name for name in ("ot", "mse", "contrastive") if CONFIGURATIONS[config].get(f"{name}_weight", 0) > 0}
    assert set(terms) == active | {"total"}
    assert all(isinstance(value, float) and math.isfinite(value) for value in terms.values())


@pytest.mark.parametrize("config", list(CONFIGURATIONS), ids=list(CONFIGURATIONS))
def test_collated_training_steps_update_the_student_and_never_the_teacher(config, bert_dirs):
    model = _router_model(bert_dirs).train()
    loss = _loss(model, **CONFIGURATIONS[config])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    teacher_before, student_before = _params(model, "document"), _params(model, "query")
    steps = 0
    for _ in range(2):  # 2 epochs of 2 batches
        for features, labels in _collated_batches(model):
            assert [f["task"] for f in features] == ["query", "document"]
            optimizer.zero_grad()
            value = loss(features, labels)
            assert torch.isfinite(value)
            value.backward()
            optimizer.step()
            steps += 1
    assert steps == 4
    assert not _changed(teacher_before, _params(model, "document"))
    assert _changed(student_before, _params(model, "query"))
    assert all(p.grad is None for p in model[0].sub_modules["document"].parameters())
    _check_terms(loss, config)


def _training_args(tmp_path, max_steps: int) -> SentenceTransformerTrainingArguments:
    return SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path),
        max_steps=max_steps,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        warmup_steps=0,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=0,
        router_mapping={"lr": "query", "en": "document"},
    )


@pytest.mark.parametrize("config", list(CONFIGURATIONS), ids=list(CONFIGURATIONS))
def test_trainer_updates_the_student_and_never_the_teacher(config, bert_dirs, tmp_path):
    pytest.importorskip("accelerate", reason="SentenceTransformerTrainer needs accelerate>=1.1")
    model = _router_model(bert_dirs)
    loss = _loss(model, **CONFIGURATIONS[config])
    dataset = Dataset.from_dict({"lr": LOW_RESOURCE, "en": ENGLISH})
    teacher_before, student_before = _params(model, "document"), _params(model, "query")
    trainer = SentenceTransformerTrainer(model=model, args=_training_args(tmp_path, max_steps=3), train_dataset=dataset, loss=loss)
    result = trainer.train()

    assert math.isfinite(result.training_loss)
    logged = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 3 and all(math.isfinite(value) for value in logged)
    assert not _changed(teacher_before, _params(model, "document"))
    assert _changed(student_before, _params(model, "query"))
    _check_terms(loss, config)


def test_trainer_logs_each_term_with_return_components(bert_dirs, tmp_path):
    pytest.importorskip("accelerate", reason="SentenceTransformerTrainer needs accelerate>=1.1")
    model = _router_model(bert_dirs)
    loss = _loss(model, ot_weight=1.0, mse_weight=1.0, return_components=True)
    dataset = Dataset.from_dict({"lr": LOW_RESOURCE[:4], "en": ENGLISH[:4]})
    trainer = SentenceTransformerTrainer(model=model, args=_training_args(tmp_path, max_steps=1), train_dataset=dataset, loss=loss)
    trainer.train()
    entry = next(entry for entry in trainer.state.log_history if "loss" in entry)
    assert "ot" in entry and "mse" in entry


def test_return_components_gives_the_weighted_terms(bert_dirs):
    model = _router_model(bert_dirs).eval()
    loss = _loss(model, ot_weight=2.0, mse_weight=0.5, return_components=True)
    components = loss(_features(model, LOW_RESOURCE[:3], ENGLISH[:3]), None)
    assert set(components) == {"ot", "mse"}
    assert components["ot"].item() == pytest.approx(2.0 * loss.last_terms["ot"], rel=1e-6)
    assert components["mse"].item() == pytest.approx(0.5 * loss.last_terms["mse"], rel=1e-6)
    assert loss.last_terms["total"] == pytest.approx(sum(v.item() for v in components.values()), rel=1e-6)


# ---------------------------------------------------------------------------
# The loss on hand-built batches
# ---------------------------------------------------------------------------


def test_ot_term_is_zero_for_identical_student_teacher_and_inputs(bert_dirs):
    model = _router_model(bert_dirs).eval()
    loss = _loss(model, epsilon=0.01, iters=100)
    features = _features(model, ENGLISH[:4], ENGLISH[:4])
    value = loss(features, None)
    assert value.item() == pytest.approx(0.0, abs=1e-3)
    # Different inputs cost something.
    assert loss(_features(model, LOW_RESOURCE[:4], ENGLISH[:4]), None).item() > 0.05


def test_ot_term_decreases_when_training_on_a_fixed_batch(bert_dirs):
    model = _router_model(bert_dirs)
    model.train()
    torch.manual_seed(0)
    loss = _loss(model)
    features = _features(model, LOW_RESOURCE[:4], ENGLISH[:4])
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    values = []
    for _ in range(15):
        optimizer.zero_grad()
        value = loss([dict(f) for f in features], None)
        value.backward()
        optimizer.step()
        values.append(value.item())
    assert values[-1] < 0.7 * values[0]


def test_teacher_runs_in_eval_mode_without_grad_and_mode_is_restored(bert_dirs):
    model = _router_model(bert_dirs).train()
    teacher_bert = model[0].sub_modules["document"][0]
    seen = {}

    def record(module, args, output):
        seen["training"] = module.training
        seen["grad_enabled"] = torch.is_grad_enabled()

    handle = teacher_bert.register_forward_hook(record)
    try:
        _loss(model)(_features(model, LOW_RESOURCE[:2], ENGLISH[:2]), None)
    finally:
        handle.remove()
    assert seen == {"training": False, "grad_enabled": False}
    assert teacher_bert.training and all(m.training for m in model[0].sub_modules["document"].modules())


def test_columns_are_matched_to_routes_in_either_order(bert_dirs):
    model = _router_model(bert_dirs).eval()
    loss = _loss(model, mse_weight=1.0, contrastive_weight=1.0)
    forward = loss(_features(model, LOW_RESOURCE[:3], ENGLISH[:3]), None)
    backward = loss(_features(model, LOW_RESOURCE[:3], ENGLISH[:3])[::-1], None)
    torch.testing.assert_close(forward, backward)


def test_mse_term_is_sentence_transformers_mse(bert_dirs):
    model = _router_model(bert_dirs).eval()
    loss = _loss(model, ot_weight=0.0, mse_weight=1.0)
    lr, en = LOW_RESOURCE[:3], ENGLISH[:3]
    value = loss(_features(model, lr, en), None)
    with torch.no_grad():
        student = model.encode_query(lr, convert_to_tensor=True)
        teacher = model.encode_document(en, convert_to_tensor=True)
    assert value.item() == pytest.approx(torch.nn.functional.mse_loss(student, teacher).item(), rel=1e-4)


def test_contrastive_term_is_cross_entropy_over_teacher_embeddings(bert_dirs):
    model = _router_model(bert_dirs).eval()
    loss = InBatchContrastiveLoss(model, temperature=0.1)
    lr, en = LOW_RESOURCE[:4], ENGLISH[:4]
    value = loss(_features(model, lr, en), None)
    with torch.no_grad():
        student = model.encode_query(lr, convert_to_tensor=True)
        teacher = model.encode_document(en, convert_to_tensor=True)
    logits = torch.nn.functional.normalize(student) @ torch.nn.functional.normalize(teacher).T / 0.1
    expected = torch.nn.functional.cross_entropy(logits, torch.arange(4))
    assert value.item() == pytest.approx(expected.item(), rel=1e-4)
    assert set(loss.last_terms) == {"contrastive", "total"}


def test_zero_ot_weight_skips_sinkhorn(bert_dirs, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("ot_alignment must not run when ot_weight=0")

    monkeypatch.setattr(ot_loss_module, "ot_alignment", fail)
    model = _router_model(bert_dirs).eval()
    loss = _loss(model, ot_weight=0.0, mse_weight=1.0)
    assert torch.isfinite(loss(_features(model, LOW_RESOURCE[:2], ENGLISH[:2]), None))
    with pytest.raises(AssertionError, match="must not run"):
        _loss(model)(_features(model, LOW_RESOURCE[:2], ENGLISH[:2]), None)


def test_anchor_term_encodes_english_with_the_student(bert_dirs):
    model = _router_model(bert_dirs).eval()
    loss = _loss(model, ot_weight=0.0, anchor_weight=1.0)
    value = loss(_features(model, LOW_RESOURCE[:3], ENGLISH[:3]), None)
    # The student is a copy of the teacher: on the English side they agree exactly.
    assert value.item() == pytest.approx(0.0, abs=1e-10)
    value.backward()  # the anchor term is differentiable with respect to the student
    student_grads = [p.grad for p in model[0].sub_modules["query"].parameters()]
    assert any(g is not None for g in student_grads)


def test_anchor_with_different_tokenizers_is_refused(bert_dirs):
    model = _router_model(bert_dirs, student="other_tokenizer")
    with pytest.raises(ValueError, match="share one tokenizer"):
        _loss(model, anchor_weight=1.0)
    # Without anchoring, different tokenizers are fine (the OT term aligns different token sets).
    loss = _loss(model.eval())
    assert torch.isfinite(loss(_features(model, LOW_RESOURCE[:2], ENGLISH[:2]), None))


def test_special_token_dropping_and_idf_marginals_change_the_ot_term(bert_dirs):
    model = _router_model(bert_dirs).eval()
    features = _features(model, LOW_RESOURCE[:4], ENGLISH[:4])
    tokenizer = model[0].sub_modules["query"][0].tokenizer
    idf = compute_idf(tokenizer(LOW_RESOURCE + ENGLISH)["input_ids"], vocab_size=len(tokenizer))
    plain = _loss(model)([dict(f) for f in features], None)
    dropped = _loss(model, drop_special_tokens=True)([dict(f) for f in features], None)
    weighted = _loss(model, student_idf=idf, teacher_idf=idf)([dict(f) for f in features], None)
    for value in (plain, dropped, weighted):
        assert torch.isfinite(value)
    assert dropped.item() != pytest.approx(plain.item(), abs=1e-6)
    assert weighted.item() != pytest.approx(plain.item(), abs=1e-6)
    with pytest.raises(ValueError, match="compute_idf"):
        OptimalTransportLoss(model, student_idf=idf[:10])


def test_missing_router_mapping_is_reported(bert_dirs):
    model = _router_model(bert_dirs)
    features = [model.preprocess(LOW_RESOURCE[:2]), model.preprocess(ENGLISH[:2])]
    for f in features:
        f["task"] = None
    with pytest.raises(ValueError, match="router_mapping"):
        _loss(model)(features, None)
    both_student = [model.preprocess(LOW_RESOURCE[:2], task="query"), model.preprocess(ENGLISH[:2], task="query")]
    with pytest.raises(ValueError, match="one must go to the student"):
        _loss(model)(both_student, None)


def test_invalid_configurations_are_refused(bert_dirs):
    model = _router_model(bert_dirs)
    with pytest.raises(ValueError, match="every term has weight 0"):
        _loss(model, ot_weight=0.0)
    with pytest.raises(ValueError, match="student_route"):
        _loss(model, student_route="students")
    with pytest.raises(ValueError, match="no Router"):
        _loss(SentenceTransformer(modules=[Transformer(bert_dirs["teacher"]), Pooling(HIDDEN)]))


def test_unfrozen_teacher_is_warned_about(bert_dirs, caplog):
    model = _router_model(bert_dirs)
    model[0].sub_modules["document"].requires_grad_(True)
    with caplog.at_level(logging.WARNING, logger="optical_bench.losses.distillation"):
        _loss(model)
    assert "trainable parameters" in caplog.text


def test_config_dict_and_citation(bert_dirs):
    model = _router_model(bert_dirs)
    loss = _loss(model, mse_weight=0.5, grad="autodiff", tol=1e-4)
    config = loss.get_config_dict()
    assert config["weights"] == {"ot": 1.0, "mse": 0.5} and config["ot"]["grad"] == "autodiff" and config["ot"]["tol"] == 1e-4
    assert config["student_route"] == "query" and config["teacher_route"] == "document"
    assert "2301.12566" in loss.citation and "Huang, Zhiqi" in loss.citation and "WSDM" in loss.citation
    assert "1807.03748" in InBatchContrastiveLoss(model).citation


def test_the_ot_loss_alone_and_a_composition_are_sums_of_the_same_terms(bert_dirs):
    """OptimalTransportLoss is the OT term alone; a composition's value is the weighted sum of its
    terms' values, each what the term's own loss gives."""
    model = _router_model(bert_dirs).eval()
    features = _features(model, LOW_RESOURCE[:4], ENGLISH[:4])
    ot_alone = OptimalTransportLoss(model)([dict(f) for f in features], None)
    contrastive_alone = InBatchContrastiveLoss(model, temperature=0.1)([dict(f) for f in features], None)
    both = _loss(model, ot_weight=2.0, contrastive_weight=0.5, temperature=0.1)
    value = both([dict(f) for f in features], None)
    assert ot_alone.item() == pytest.approx(both.last_terms["ot"], rel=1e-6)
    assert contrastive_alone.item() == pytest.approx(both.last_terms["contrastive"], rel=1e-6)
    assert value.item() == pytest.approx(2.0 * ot_alone.item() + 0.5 * contrastive_alone.item(), rel=1e-5)
    assert set(OptimalTransportLoss(model, OTOptions(iters=7)).get_config_dict()["weights"]) == {"ot"}
