"""Named recipes: documented sets of training options that a run's own options override.

A recipe is named with ``--recipe NAME`` (or ``recipe = "NAME"`` in a TOML table); a recipe with a
``pairing`` also applies by itself when a run names that teacher and student and no recipe
(:func:`pairing_recipe`, applied by :func:`optical_bench.config.resolve_layers`). Options that only *refine* another one
(the linear map's text counts refine ``linear_map``) are dropped when the run turns that
option off, unless the run gave them itself (:func:`drop_idle_refinements`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

__all__ = ["PAPER_PAIRING_OPTIONS", "RECIPES", "REFINING_OPTIONS", "Recipe", "drop_idle_refinements", "pairing_recipe"]

REFINING_OPTIONS = {  # option -> (the option it refines, the values of that option under which it applies)
    "linear_map_texts": ("linear_map", ("english", "bitext", "both")),
    "linear_map_english_texts": ("linear_map", ("english", "both")),
}


@dataclass(frozen=True)
class Recipe:
    """A named, documented set of training options."""

    name: str
    summary: str
    options: dict
    # (teachers, students): the recipe applies by itself to these pairings when no recipe is named
    pairing: tuple[tuple[str, ...], tuple[str, ...]] | None = None

    def as_flags(self) -> str:
        """The recipe as command-line flags (for messages)."""
        flags = []
        for key, value in self.options.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                flags.append(flag)
            elif value is False:
                flags.append("--no-" + flag[2:])
            else:
                flags.append(f"{flag} {value}")
        return " ".join(flags)


# chosen on the dev split: the measurements are in results/paper_pairing/README.md (the method: results/paper_pairing/method_dev/)
PAPER_PAIRING_OPTIONS = {
    "teacher": "all-minilm-l6-v2",
    "student_init": "multilingual-e5-small-q4",
    "method": "contrastive",
    "linear_map": "both",
    "linear_map_texts": 4000,
    "linear_map_english_texts": 4000,
    "ot_map_tokens": True,
    "learning_rate": 2e-5,
    "max_steps": 60,
}

RECIPES = {
    "e5-default": Recipe(
        "e5-default",
        "distil multilingual-e5-small-q4 into a copy of itself: OT + in-batch contrastive, 60 steps at lr 5e-6, "
        "frozen embeddings (the defaults)",
        {},
    ),
    "english-teacher": Recipe(
        "english-teacher",
        "a student that starts from an English-only encoder (e.g. all-minilm-l6-v2): vocabulary transfer from the "
        "bitext, a learning rate of 2e-4 and trainable embeddings, so the new word pieces can move",
        {"vocabulary_transfer": True, "learning_rate": 2e-4, "freeze_embeddings": False},
    ),
    # chosen on AfriQA dev: results/in_domain_data_real_questions/README.md (the arms
    # e5-optical-questions-last-240steps and e5-supervised-from-questions)
    "question-bitext": Recipe(
        "question-bitext",
        "bitext of the questions' own domain (--bitext afriqa-bitext: questions and their human translations): the "
        "default objective for 240 steps (4x the default budget), the last step's model (a dev set of the questions' "
        "own translations is saturated and would keep the earliest checkpoint); the best bitext-only student on AfriQA dev",
        {"max_steps": 240, "dev": False},
    ),
    "gold-passages": Recipe(
        "gold-passages",
        "a little supervision, when (question, passage) pairs in the questions' languages exist (--bitext "
        "afriqa-gold-passages, or a TSV of your own): in-batch InfoNCE of the questions against the teacher's passage "
        "embeddings, passages read up to 256 tokens; started from a student distilled on the questions' translations "
        "(--student-init), the best small retriever on AfriQA dev",
        {"method": "contrastive", "max_seq_length": 256},
    ),
    "paper-pairing": Recipe(
        "paper-pairing",
        "the paper's setting, an English teacher (all-minilm-l6-v2) and a multilingual student "
        "(multilingual-e5-small-q4): a linear map of the student's space onto the teacher's fitted in closed form "
        "first (on 4,000 pairs and 4,000 more English sentences), then in-batch contrastive at lr 2e-5; OT is off, as it "
        "cost on dev in this pairing (--method optical+contrastive for OPTICAL's objective, its cost taken after the map)",
        PAPER_PAIRING_OPTIONS,
        pairing=(
            ("all-minilm-l6-v2", "sentence-transformers/all-MiniLM-L6-v2"),
            ("multilingual-e5-small-q4", "intfloat/multilingual-e5-small"),
        ),
    ),
}


def pairing_recipe(teacher: str | None, student_init: str | None) -> Recipe | None:
    """The recipe tuned for this (teacher, student) pairing, if there is one."""
    for recipe in RECIPES.values():
        if recipe.pairing and teacher in recipe.pairing[0] and student_init in recipe.pairing[1]:
            return recipe
    return None


def drop_idle_refinements(options: dict, explicit: Collection[str]) -> dict:
    """``options`` without the options that only refine another one which is off, unless they
    were given ``explicit``ly: a recipe's English sentences for the linear map do not apply
    (nor get refused) when a run sets ``linear_map = "none"``."""
    idle = {key for key, (parent, applies) in REFINING_OPTIONS.items() if key not in explicit and options.get(parent) not in applies}
    return {key: value for key, value in options.items() if key not in idle}
