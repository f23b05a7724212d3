"""The run keys of every shipped experiment config: for each config, the model folder of each run
(``<run>-<hash of its training options>``) and the name of each variant evaluation
(``<run>+<variant>``); :func:`experiment_settings` gives each config's ``[experiment]``. Two
checkouts give the same keys when their configs train and evaluate the same runs, whatever the
configs look like::

    python scripts/run_keys.py > keys.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path


def run_keys() -> dict[str, list[str]]:
    from optical_bench.experiment import _run_config, load_experiment, packaged_configs, variant_evaluations

    keys = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in packaged_configs():
            experiment = load_experiment(name)
            found = []
            for run in experiment["runs"]:
                folder = Path(_run_config(experiment, run, Path(scratch)).out).name
                found.append(folder)
                found += [variant for variant, _spec, _scoring in variant_evaluations(experiment, run["name"], "{model}")]
            keys[name] = sorted(found)
    return keys


def experiment_settings() -> dict[str, dict]:
    """Each shipped config's ``[experiment]`` less its ``results`` folder: name, tasks, splits,
    BEIR entries, baseline and variants (what the evaluations of its runs depend on)."""
    from optical_bench.experiment import load_experiment, packaged_configs

    return {
        name: {key: value for key, value in load_experiment(name)["experiment"].items() if key != "results"} for name in packaged_configs()
    }


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    json.dump(run_keys(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
