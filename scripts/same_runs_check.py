"""Train seven small runs and write what must not change across a refactoring: each run's
``train_config.json``, its provenance (less timings and machine paths) and the query embeddings
of a few fixed sentences.

Run it with two checkouts and compare the two files::

    PYTHONPATH=<old checkout> .venv/bin/python scripts/same_runs_check.py /tmp/before.json
    PYTHONPATH=.              .venv/bin/python scripts/same_runs_check.py /tmp/after.json
    cmp /tmp/before.json /tmp/after.json

The runs use the packaged all-minilm-l6-v2 and the built Bible (offline), two steps each.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

SMALL = {"teacher": "all-minilm-l6-v2", "bitext_size": 250, "max_steps": 2, "batch_size": 4, "max_seq_length": 32, "seed": 7}
RUNS = {
    "zero-shot": {"method": "zero-shot"},
    "centering": {"method": "centering", "centering_texts": 50},
    "translate-test": {"method": "translate-test", "ibm1_iterations": 2},
    "mse": {"method": "mse"},
    "optical+contrastive": {"method": "optical+contrastive", "ot_iters": 5},
    "linear-map": {"method": "contrastive", "linear_map": "both", "linear_map_texts": 100, "linear_map_english_texts": 50},
    "back-translation+mlm": {
        "method": "mse",
        "augmentation_kind": "back-translation",
        "augmentation_size": 20,
        "ibm1_iterations": 2,
        "mlm_texts": 40,
        "mlm_steps": 2,
        "mlm_batch_size": 4,
    },
}
SENTENCES = ["Yesu anati kwa iwo", "Mulungu ndiye chikondi", "ana akusewera panja"]
VOLATILE = {"seconds", "timings", "started", "finished", "date", "folder", "out", "best_checkpoint", "path", "optical_bench_version"}


def _stable(value):
    """The provenance without timings, dates and machine paths (those differ between any two runs)."""
    if isinstance(value, dict):
        return {key: _stable(item) for key, item in sorted(value.items()) if key not in VOLATILE and "second" not in key}
    if isinstance(value, list):
        return [_stable(item) for item in value]
    if isinstance(value, str) and value.startswith(("/", "$OPTICAL_BENCH_HOME")):
        return Path(value).name
    return value


def main(out: str) -> None:
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from optical_bench.config import TrainConfig
    from optical_bench.training import train

    found = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, options in RUNS.items():
            config = TrainConfig.from_dict({**SMALL, **options, "out": str(Path(scratch) / name)})
            folder = train(config, progress=False)
            record = json.loads((Path(scratch) / name / "train_config.json").read_text(encoding="utf-8"))
            record.pop("out", None)
            provenance = json.loads((folder / "optical_bench_provenance.json").read_text(encoding="utf-8"))
            entry = {"train_config": record, "provenance": _stable(provenance)}
            if name != "translate-test":
                model = SentenceTransformer(str(folder), device="cpu")
                embeddings = np.asarray(model.encode_query(SENTENCES), dtype=np.float32)
                entry["query_embeddings_sha256"] = hashlib.sha256(np.round(embeddings, 5).tobytes()).hexdigest()
            found[name] = entry
            print(name, entry.get("query_embeddings_sha256", "")[:16], flush=True)
    Path(out).write_text(json.dumps(found, indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
