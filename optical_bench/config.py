"""The configuration of a training run: typed option groups, recipe application, and TOML reading.

A :class:`TrainConfig` holds the run's own choices (method, models, data, optimiser, loss
weights) and five option groups, each a dataclass whose fields carry their help text::

    TrainConfig
    ├── ot: OTOptions                    --ot-*                   [train.ot]
    ├── vocabulary: VocabularyOptions    --vocabulary-transfer*   [train.vocabulary]
    ├── checkpoints: CheckpointOptions   --dev, --eval-steps, ... [train.checkpoints]
    ├── mlm: MLMOptions                  --mlm-*                  [train.mlm]
    └── augmentation: AugmentationOptions --augmentation-*        [train.augmentation]

Every option has one *flat key* (``ot_epsilon``, ``mlm_steps``): the name of its flag (``--ot-epsilon``),
of its key in a flat TOML table and of its entry in :meth:`TrainConfig.to_dict`, the record written
into every model folder and hashed into the run keys (so the grouping changes no recorded key).

A TOML ``[train]`` table (or an experiment's ``defaults`` and runs) may use flat keys, group
tables (``[train.ot] epsilon = 0.1``), and ``recipe = "english-teacher"``: a named set of
options from :data:`optical_bench.recipes.RECIPES` that the other keys override.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from optical_bench.methods import FREE_METHODS, METHODS, TERMS, TRAINED, TRAINED_METHODS, LossWeights, loss_weights
from optical_bench.recipes import RECIPES, drop_idle_refinements, pairing_recipe

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "AUGMENTATION_KINDS",
    "AugmentationOptions",
    "CheckpointOptions",
    "FREE_METHODS",
    "METHODS",
    "METHOD_WEIGHTS",
    "MLMOptions",
    "MLM_HEADS",
    "MLM_VOCABULARIES",
    "OTOptions",
    "TRAINED_METHODS",
    "TrainConfig",
    "VocabularyOptions",
    "normalize_kind",
    "option_groups",
    "read_toml",
    "resolve_layers",
    "resolve_options",
    "tomllib",
]

# (OT, MSE, contrastive) default loss weights of each trained method: a view of the method table
METHOD_WEIGHTS = {name: (row.weights.ot, row.weights.mse, row.weights.contrastive) for name, row in TRAINED.items()}
MLM_HEADS = ("fresh", "tied", "untied")
MLM_VOCABULARIES = ("corpus", "full")
LINEAR_MAP_SOURCES = ("none", "english", "bitext", "both")
AUGMENTATION_KINDS = ("none", "back-translation", "forward-translation", "code-switch")
# fmt: off
_KIND_ALIASES = {
    "": "none", "no": "none", "off": "none", "false": "none",
    "bt": "back-translation", "backtranslation": "back-translation", "back-translate": "back-translation",
    "ft": "forward-translation", "forward-translate": "forward-translation", "synthetic": "forward-translation",
    "cs": "code-switch", "codeswitch": "code-switch", "code-switching": "code-switch",
}
# fmt: on


def normalize_kind(kind: str | None) -> str:
    """Canonical augmentation kind (``None`` -> ``"none"``; ``_`` and case ignored; aliases bt/ft/cs)."""
    if kind is None:
        return "none"
    if not isinstance(kind, str):
        raise TypeError(f"augmentation kind must be a string, got {type(kind).__name__}")
    name = kind.strip().lower().replace("_", "-")
    name = _KIND_ALIASES.get(name, name)
    if name not in AUGMENTATION_KINDS:
        raise ValueError(
            f"Unknown augmentation kind {kind!r}{_did_you_mean(name, AUGMENTATION_KINDS)}; choose one of {', '.join(AUGMENTATION_KINDS)}."
        )
    return name


def _did_you_mean(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def option(default: Any, help: str, *, choices: tuple | None = None, key: str | None = None, factory=None):
    """A dataclass field that carries its help text, its choices and (where it differs from
    the group's prefix + name) its flat key."""
    metadata = {"help": help, "choices": choices, "key": key}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


# --------------------------------------------------------------------------- option groups


@dataclass
class OTOptions:
    """The optimal-transport alignment of the OPTICAL loss (:mod:`optical_bench.ot`)."""

    PREFIX: ClassVar[str] = "ot_"
    TITLE: ClassVar[str] = "optimal transport"

    cost: str = option("cosine", "ground cost between student and teacher token embeddings", choices=("cosine", "sqeuclidean"))
    epsilon: float = option(0.05, "entropic regularisation of Sinkhorn (smaller: a sharper plan)")
    iters: int = option(50, "Sinkhorn iterations (log domain)")
    tol: float | None = option(None, "stop Sinkhorn early once the marginal error is below this (none: run all iterations)")
    grad: str = option(
        "envelope",
        "gradient through the plan: envelope (plan held fixed) or autodiff (through the iterations)",
        choices=("envelope", "autodiff"),
    )
    drop_special_tokens: bool = option(False, "leave [CLS]/<s>, [SEP]</s> and padding out of the alignment")
    idf: bool = option(False, "token marginals proportional to IDF on the bitext (default: uniform)")
    map_tokens: bool = option(
        False, "pass the student's token embeddings through its route's Dense layers (a --linear-map, centring) before the cost"
    )


@dataclass
class VocabularyOptions:
    """Vocabulary transfer (:mod:`optical_bench.models.vocabulary`), for a student that has
    never seen the low-resource language: the bitext's frequent words become whole-word
    pieces, each initialised from its IBM-1 English translations."""

    PREFIX: ClassVar[str] = "vocabulary_transfer_"
    TITLE: ClassVar[str] = "vocabulary transfer"

    enabled: bool = option(
        False,
        "add the bitext's low-resource words to the student's vocabulary, each initialised from its "
        "IBM-1 English translations (for a student that has never seen the language, e.g. all-minilm-l6-v2)",
        key="vocabulary_transfer",
    )
    words: int | None = option(None, "add at most this many words, the most frequent first (none: all)")
    min_count: int = option(2, "add a word seen at least this many times in the bitext")
    top_k: int = option(3, "initialise each new piece from this many English translations")


@dataclass
class CheckpointOptions:
    """Checkpoint selection on the dev split (held-out Bible books; test sets are never read)."""

    PREFIX: ClassVar[str] = ""
    TITLE: ClassVar[str] = "checkpoints and dev selection"

    dev: bool = option(True, "evaluate on the dev split during training and keep the best checkpoint")
    dev_collection: str | None = option(None, "a BEIR folder with qrels/dev.tsv (none: the built bible-dev)")
    eval_steps: int | None = option(
        None, "evaluate on dev (and save a checkpoint) every N steps (none: three times per run, every max_steps // 3)"
    )
    save: bool = option(True, "save checkpoints, so that an interrupted run resumes", key="save_checkpoints")
    keep: bool = option(False, "keep the checkpoints after training (default: only the final model)", key="keep_checkpoints")


@dataclass
class MLMOptions:
    """Monolingual pre-training augmentation (RQ1): continued masked-LM training of the
    student's encoder before distillation (:mod:`optical_bench.augment.mlm`)."""

    PREFIX: ClassVar[str] = "mlm_"
    TITLE: ClassVar[str] = "monolingual pre-training (MLM)"

    texts: int | str = option(0, "monolingual texts to pre-train on: 0 (none), N, or all (the withheld Chichewa books)")
    corpus: str | None = option(None, "a text file or afriqa-<lang>-questions, mafand-<lang>-beyond (none: built Chichewa)")
    steps: int | None = option(None, "MLM steps (none: --mlm-epochs over the texts)")
    epochs: float = option(1.0, "passes over the texts when --mlm-steps is not given")
    batch_size: int = option(16, "MLM batch size")
    learning_rate: float = option(5e-5, "MLM learning rate (AdamW, linear warm-up and decay)")
    mask_probability: float = option(0.15, "share of tokens masked (BERT 80/10/10)")
    max_seq_length: int | None = option(None, "MLM token limit (none: the training --max-seq-length)")
    head: str = option("fresh", "MLM head: fresh (random), tied or untied to the input embeddings", choices=MLM_HEADS)
    vocabulary: str = option(
        "corpus", "predict over the pieces the texts use (corpus) or the whole vocabulary (full)", choices=MLM_VOCABULARIES
    )
    head_warmup_steps: int = option(100, "steps that train the fresh MLM head alone (encoder frozen) first (0: off)")
    head_learning_rate: float = option(1e-3, "learning rate of the head warm-up")

    @property
    def enabled(self) -> bool:
        """Whether a run pre-trains with MLM: the one answer (``texts`` 0, "", "0", "none", "no", "off": no)."""
        return str(self.texts).strip().lower() not in ("", "0", "none", "no", "off") and self.texts is not None


@dataclass
class AugmentationOptions:
    """Synthetic and back-translated pairs (RQ2, :mod:`optical_bench.augment.pairs`)."""

    PREFIX: ClassVar[str] = "augmentation_"
    TITLE: ClassVar[str] = "synthetic pairs (augmentation)"

    kind: str = option("none", "none, back-translation (bt), forward-translation (ft) or code-switch (cs)")
    ratio: float = option(1.0, "synthetic pairs per real pair")
    translator: str = option("ibm1", "ibm1 (learnt from the bitext) or a Hugging Face seq2seq MT model id")
    translator_options: dict = option(None, "keyword options of the seq2seq translator (TOML only)", factory=dict)
    size: int | str = option("all", "monolingual texts to translate: N or all")
    rate: float = option(0.5, "code-switch: share of dictionary words replaced")
    min_prob: float = option(0.2, "code-switch: smallest IBM-1 translation probability used")
    monolingual: str | None = option(None, "back-translation: low-resource texts, a file or afriqa-<lang>-questions (none: withheld books)")
    english: str | None = option(None, "forward translation, code-switch: English, a file or afriqa-<lang>-questions-en")


GROUPS = {
    "ot": OTOptions,
    "vocabulary": VocabularyOptions,
    "checkpoints": CheckpointOptions,
    "mlm": MLMOptions,
    "augmentation": AugmentationOptions,
}


def flat_key(group: type, item) -> str:
    """The flat key of a group field: its ``key`` metadata, or the group's prefix + its name."""
    return item.metadata.get("key") or group.PREFIX + item.name


# --------------------------------------------------------------------------- the run


@dataclass
class TrainConfig:
    """Every choice of a training run; all of it goes into the model card."""

    method: str = option("optical+contrastive", "what to train or build", choices=METHODS)
    teacher: str = option("multilingual-e5-small-q4", "teacher model: packaged name, folder or Hugging Face id")
    student_init: str | None = option(None, "student initialisation (none: a copy of the teacher)")
    out: str = option("runs/student", "the run folder (the model lands in <out>/model)")
    bitext: str | None = option(
        None,
        "bitext file (.jsonl/.tsv), or a named source: mafand-<lang> (MAFAND-MT news: hau, ibo, swa, twi, yor, zul) "
        "(none: the built Bible bitext)",
    )
    bitext_size: int = option(4000, "pairs to use: the built Bible's 250, 1000, 4000 or 16000; a named source's first N (nested)")
    student_side: str = option("query", "which side is low-resource", choices=("query", "document"))
    max_steps: int = option(60, "optimiser steps")
    batch_size: int = option(32, "pairs per batch")
    learning_rate: float = option(5e-6, "peak learning rate (AdamW, linear warm-up and decay)")
    warmup_ratio: float = option(0.1, "share of the steps spent warming up")
    weight_decay: float = option(0.01, "AdamW weight decay")
    max_grad_norm: float = option(1.0, "gradient clipping norm")
    seed: int = option(42, "seeds sampling, initialisation and dropout")
    max_seq_length: int = option(64, "training batches are cut at this many tokens (test time uses the encoders' own limits)")
    student_max_seq_length: int | None = option(None, "the student's token limit at test time (none: its initial encoder's)")
    ot_weight: float | None = option(None, "weight of the OT loss (none: the method's)")
    mse_weight: float | None = option(None, "weight of the sentence MSE loss (none: the method's)")
    contrastive_weight: float | None = option(None, "weight of the in-batch InfoNCE loss (none: the method's)")
    anchor_weight: float = option(0.0, "weight of an MSE anchor of the English side to the teacher")
    mse_english: bool = option(
        False, "mse: the student also reads the English side, towards the same target (sentence-transformers' make_multilingual)"
    )
    temperature: float = option(0.05, "InfoNCE temperature")
    ot: OTOptions = field(default_factory=OTOptions)
    truncate_layers: int | None = option(None, "keep only the student's first N transformer layers")
    prune_vocabulary: bool = option(False, "prune the student's vocabulary to the pieces the bitext uses")
    freeze_embeddings: bool = option(True, "freeze the student's token embeddings")
    vocabulary: VocabularyOptions = field(default_factory=VocabularyOptions)
    checkpoints: CheckpointOptions = field(default_factory=CheckpointOptions)
    translator: str = option("ibm1", "translate-test: ibm1 (learnt from the bitext) or a Hugging Face seq2seq MT model id")
    ibm1_iterations: int = option(10, "EM iterations of IBM Model 1 (translate-test and augmentation)")
    centering_texts: int = option(2000, "centering: texts per side for the language means")
    center_student: bool = option(False, "start a trained student from the language-mean-centred teacher")
    linear_map: str = option(
        "none",
        "warm start: a linear map of the student's space onto the teacher's, fitted in closed form on training pairs "
        "(english: the English side read by both; bitext: low-resource side to its English twin; both)",
        choices=LINEAR_MAP_SOURCES,
    )
    linear_map_texts: int = option(4000, "training pairs (a seeded sample) the linear map is fitted on")
    linear_map_ridge: float = option(0.01, "ridge penalty of the linear map's least squares")
    linear_map_english_texts: int = option(
        0,
        "English sentences beyond the bitext added to the map's fit (english and both): for tiny bitexts, where the map "
        "needs more rows than the pairs give; read by both encoders, so no translation is needed",
    )
    linear_map_english_file: str = option(
        "",
        "where those English sentences come from: a text file, one sentence per line (default: the English side of the "
        "built Bible collection's training verses outside this run's bitext; their Chichewa is never read)",
    )
    mlm: MLMOptions = field(default_factory=MLMOptions)
    augmentation: AugmentationOptions = field(default_factory=AugmentationOptions)

    # ------------------------------------------------------------------ checks and views

    def validate(self) -> None:
        """Refuse combinations that cannot run, with the flag to change."""
        _check_choice("method", self.method, METHODS)
        _check_choice("student-side", self.student_side, ("query", "document"))
        _check_choice("ot-grad", self.ot.grad, ("envelope", "autodiff"))
        _check_choice("ot-cost", self.ot.cost, ("cosine", "sqeuclidean"))
        _check_choice("mlm-head", self.mlm.head, MLM_HEADS)
        _check_choice("mlm-vocabulary", self.mlm.vocabulary, MLM_VOCABULARIES)
        _check_choice("linear-map", self.linear_map, LINEAR_MAP_SOURCES)
        if self.linear_map != "none" and self.method not in TRAINED_METHODS + ("zero-shot",):
            raise ValueError(f"--linear-map applies to trained students and zero-shot, not to {self.method}.")
        if self.linear_map_texts < 1 or self.linear_map_ridge < 0:
            raise ValueError("--linear-map-texts must be >= 1 and --linear-map-ridge >= 0.")
        if self.linear_map_english_texts < 0:
            raise ValueError("--linear-map-english-texts must be >= 0.")
        if self.linear_map_english_texts and self.linear_map not in ("english", "both"):
            raise ValueError(
                f"--linear-map-english-texts adds English sentences to the map's fit: use it with --linear-map english or both "
                f"(not {self.linear_map})."
            )
        if not isinstance(self.bitext_size, int) or self.bitext_size < 1 or (self.max_steps < 1 and self.method in TRAINED_METHODS):
            raise ValueError(
                f"--bitext-size ({self.bitext_size!r}) and --max-steps ({self.max_steps!r}) must be whole numbers, at least 1."
            )
        contrastive = self.loss_weights().contrastive  # the weight the loss will use (refuses weights the method lacks)
        if self.batch_size < 2 and contrastive > 0 and self.method in TRAINED_METHODS:
            raise ValueError(
                f"In-batch contrastive training (--method {self.method}, contrastive weight {contrastive}) needs --batch-size >= 2. "
                "Fix: raise --batch-size, or set --contrastive-weight 0."
            )
        self.augmentation.kind = normalize_kind(self.augmentation.kind)
        if self.vocabulary.min_count < 1 or self.vocabulary.top_k < 1:
            raise ValueError("--vocabulary-transfer-min-count and --vocabulary-transfer-top-k must be >= 1.")
        if self.vocabulary.enabled and self.method == "translate-test":
            raise ValueError("--vocabulary-transfer changes the student's encoder; translate-test has none (it translates queries).")
        for flag, value, low, high in (
            ("warmup-ratio", self.warmup_ratio, 0.0, 1.0),
            ("mlm-mask-probability", self.mlm.mask_probability, 0.0, 1.0),
            ("augmentation-min-prob", self.augmentation.min_prob, 0.0, 1.0),
        ):
            if not low <= value <= high:
                raise ValueError(
                    f"--{flag} {value!r} is outside [{low}, {high}]: it is a share. Fix: give a value between {low} and {high}."
                )
        if self.learning_rate <= 0:
            raise ValueError(f"--learning-rate {self.learning_rate!r} must be > 0.")
        if self.augmentation.ratio < 0:
            raise ValueError("--augmentation-ratio must be >= 0 (synthetic pairs per real pair).")

    def loss_weights(self) -> LossWeights:
        """The weight of each loss term: ``--<term>-weight`` where given, else the method's row (:mod:`optical_bench.methods`)."""
        return loss_weights(self.method, {term: getattr(self, f"{term}_weight") for term in TERMS})

    def to_dict(self) -> dict[str, Any]:
        """Every option under its flat key, in declaration order (the recorded form)."""
        flat: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in GROUPS:
                for sub in fields(value):
                    flat[flat_key(type(value), sub)] = _copy(getattr(value, sub.name))
            else:
                flat[item.name] = _copy(value)
        return flat

    @classmethod
    def from_dict(cls, data: dict, source: str | None = None) -> TrainConfig:
        """A config from one mapping of flat keys, group tables and ``recipe`` (the inverse of
        :meth:`to_dict`; no pairing recipe is implied): :func:`resolve_layers` with one layer."""
        return cls.from_flat(resolve_layers([(source, data)], imply_pairing_recipe=False))

    @classmethod
    def from_layers(cls, layers: Sequence[tuple[str | None, Mapping[str, Any]]]) -> TrainConfig:
        """The config of a run from its layers of options (:func:`resolve_layers`)."""
        return cls.from_flat(resolve_layers(layers))

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any]) -> TrainConfig:
        """A config from resolved flat keys (every key known and typed)."""
        flat = dict(flat)
        keys = flat_keys()
        run = {name: flat.pop(name) for name in list(flat) if keys[name] is None}
        groups = {name: {} for name in GROUPS}
        for name, value in flat.items():
            group, field_name = keys[name]
            groups[group][field_name] = value
        return cls(**run, **{name: GROUPS[name](**values) for name, values in groups.items()})


def _copy(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else value


def _check_choice(flag: str, value: Any, choices) -> None:
    if value not in choices:
        raise ValueError(f"--{flag} {value!r}{_did_you_mean(str(value), choices)}: use one of {', '.join(choices)}.")


def flat_keys() -> dict[str, tuple[str, str] | None]:
    """Every flat key: ``None`` for a run field, ``(group, field)`` for a group's."""
    keys: dict[str, tuple[str, str] | None] = {}
    for item in fields(TrainConfig):
        if item.name in GROUPS:
            group = GROUPS[item.name]
            keys.update({flat_key(group, sub): (item.name, sub.name) for sub in fields(group)})
        else:
            keys[item.name] = None
    return keys


def resolve_options(data: dict, source: str | None = None) -> dict[str, Any]:
    """Flat options from one mapping of flat keys and group tables (``{"ot": {"epsilon": 0.1}}``),
    each key known and each value of its declared type; ``recipe`` is :func:`resolve_layers`'s."""
    where = f"{source}: " if source else ""
    data = dict(data)
    flat: dict[str, Any] = {}
    if "recipe" in data:
        raise ValueError(f"{where}`recipe` is resolved with the other layers: pass this mapping to resolve_layers.")
    keys = flat_keys()
    for name, value in data.items():
        if name in GROUPS and isinstance(value, dict):
            group = GROUPS[name]
            by_field = {sub.name: flat_key(group, sub) for sub in fields(group)}
            for sub_name, sub_value in value.items():
                if sub_name not in by_field:
                    raise ValueError(
                        f"{where}unknown option {sub_name!r} in [train.{name}]{_did_you_mean(sub_name, by_field)}; "
                        f"known: {', '.join(by_field)}."
                    )
                flat[by_field[sub_name]] = sub_value
        elif name in keys:
            flat[name] = value
        else:
            raise ValueError(
                f"{where}unknown training option {name!r}{_did_you_mean(name, keys)}. The options are the long "
                f"flags of `optical-bench train --help` with _ for -, or group tables {', '.join(GROUPS)}."
            )
    types = option_types()
    for name, value in flat.items():
        _check_type(name, value, types[name], where)
    return flat


def option_types() -> dict[str, str]:
    """Every flat key's declared type, as written in its dataclass (``"int"``, ``"float | None"``)."""
    types: dict[str, str] = {}
    for item in fields(TrainConfig):
        if item.name in GROUPS:
            types.update({flat_key(GROUPS[item.name], sub): str(sub.type) for sub in fields(GROUPS[item.name])})
        else:
            types[item.name] = str(item.type)
    return types


_TYPE_CHECKS = {
    "int": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "float": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    "str": lambda value: isinstance(value, str),
    "bool": lambda value: isinstance(value, bool),
    "None": lambda value: value is None,
}
_EXAMPLES = {"int": "3", "float": "0.5", "str": '"text"', "bool": "true"}
_TYPE_NAMES = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false", "None": "none (leave the key out)"}


def _check_type(name: str, value: Any, declared: str, where: str) -> None:
    """Refuse a value of the wrong type (``max_steps = "3"``, ``max_steps = 3.7``, ``max_steps = true``):
    TOML and experiment configs are typed, and a silent coercion would train something else."""
    kinds = [kind.strip() for kind in declared.split("|")]
    if any(kind not in _TYPE_CHECKS for kind in kinds) or any(_TYPE_CHECKS[kind](value) for kind in kinds):
        return
    wanted = " or ".join(_TYPE_NAMES[kind] for kind in kinds)
    default = TrainConfig().to_dict().get(name)
    if default is not None and _TYPE_CHECKS[kinds[0]](default):
        example = f"{name} = {json.dumps(default)} (its default)"
    else:
        example = f"{name} = {_EXAMPLES.get(kinds[0], '...')}"
    found = {"str": "a string", "int": "an integer", "float": "a decimal number", "bool": "a boolean"}.get(
        type(value).__name__, "a " + type(value).__name__
    )
    raise ValueError(
        f"{where}option {name} = {json.dumps(value)} is {found}, not {wanted}. Fix: write it like {example}; numbers take no quotes."
    )


def resolve_layers(layers: Sequence[tuple[str | None, Mapping[str, Any]]], imply_pairing_recipe: bool = True) -> dict[str, Any]:
    """The one place where a run's options are decided, from its layers, in one fixed order::

        defaults  <  pairing recipe  <  named recipe  <  layers[0]  <  layers[1]  <  ...

    ``layers`` are ``(source, mapping)`` pairs in increasing precedence: an experiment's
    ``[defaults]`` then its ``[[runs]]`` entry; a ``train --config`` file's ``[train]`` table then
    the command-line flags. Each mapping holds flat keys, group tables and ``recipe``; the last
    layer that names a recipe names it (``--recipe`` over the file's). With no recipe named, the
    recipe tuned for the run's teacher and student applies (``imply_pairing_recipe``). Options
    that only refine another (the linear map's text counts) are dropped when a layer turns that
    option off and no layer gave them itself. Returns flat keys; a wrong key, type or recipe
    raises a ``ValueError`` that names the layer's source."""
    explicit: dict[str, Any] = {}
    recipe, recipe_source = None, None
    for source, mapping in layers:
        mapping = dict(mapping)
        named = mapping.pop("recipe", None)
        if named is not None:
            recipe, recipe_source = named, source
        explicit.update(resolve_options(mapping, source))
    if recipe is not None:
        if recipe not in RECIPES:
            where = f"{recipe_source}: " if recipe_source else ""
            raise ValueError(f"{where}unknown recipe {recipe!r}{_did_you_mean(str(recipe), RECIPES)}; known: {', '.join(RECIPES)}.")
        base = RECIPES[recipe].options
    elif imply_pairing_recipe:
        defaults = TrainConfig()
        implied = pairing_recipe(explicit.get("teacher", defaults.teacher), explicit.get("student_init", defaults.student_init))
        base = implied.options if implied else {}
    else:
        base = {}
    return drop_idle_refinements({**base, **explicit}, explicit=explicit)


# --------------------------------------------------------------------------- views for the CLI and TOML


def option_groups() -> list[tuple[str, list[tuple[str, Any]]]]:
    """``[(title, [(flat key, field), ...]), ...]``: the run's own options, then each group's."""
    run: list[tuple[str, Any]] = []
    grouped: list[tuple[str, list[tuple[str, Any]]]] = []
    for item in fields(TrainConfig):
        if item.name in GROUPS:
            group = GROUPS[item.name]
            grouped.append((group.TITLE, [(flat_key(group, sub), sub) for sub in fields(group)]))
        else:
            run.append((item.name, item))
    return [("training", run)] + grouped


def read_toml(path: str | Path) -> dict:
    """A TOML file as a dict; a syntax error names the file and the line, with the fix."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML ({error}). Fix the syntax at that line.") from None
