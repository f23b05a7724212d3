"""The training configuration: option groups, flat keys, recipes, TOML and the flags derived from them."""

from __future__ import annotations

import json

import pytest

from optical_bench.cli import build_parser, train_config_from_args
from optical_bench.config import TrainConfig, flat_keys, option_groups, read_toml
from optical_bench.experiment import _run_config, load_experiment, packaged_configs
from optical_bench.recipes import RECIPES

# the recorded form (train_config.json, run keys) of every option, in order; a change here
# changes every recorded config and every experiment run key
FLAT_KEYS = (
    "method teacher student_init out bitext bitext_size student_side max_steps batch_size learning_rate warmup_ratio "
    "weight_decay max_grad_norm seed max_seq_length student_max_seq_length ot_weight mse_weight contrastive_weight "
    "anchor_weight mse_english temperature ot_cost ot_epsilon ot_iters ot_tol ot_grad ot_drop_special_tokens ot_idf ot_map_tokens truncate_layers "
    "prune_vocabulary freeze_embeddings vocabulary_transfer vocabulary_transfer_words vocabulary_transfer_min_count "
    "vocabulary_transfer_top_k dev dev_collection eval_steps save_checkpoints keep_checkpoints translator ibm1_iterations "
    "centering_texts center_student linear_map linear_map_texts linear_map_ridge linear_map_english_texts linear_map_english_file mlm_texts mlm_corpus mlm_steps mlm_epochs mlm_batch_size mlm_learning_rate "
    "mlm_mask_probability mlm_max_seq_length mlm_head mlm_vocabulary mlm_head_warmup_steps mlm_head_learning_rate "
    "augmentation_kind augmentation_ratio augmentation_translator augmentation_translator_options augmentation_size "
    "augmentation_rate augmentation_min_prob augmentation_monolingual augmentation_english"
).split()


def test_the_recorded_form_keeps_every_flat_key_in_order_and_round_trips():
    config = TrainConfig()
    assert list(config.to_dict()) == FLAT_KEYS
    assert list(flat_keys()) == FLAT_KEYS
    changed = TrainConfig.from_dict({"ot_epsilon": 0.1, "vocabulary_transfer": True, "keep_checkpoints": True, "mlm_texts": "all"})
    assert (changed.ot.epsilon, changed.vocabulary.enabled, changed.checkpoints.keep, changed.mlm.texts) == (0.1, True, True, "all")
    assert TrainConfig.from_dict(changed.to_dict()) == changed
    assert config.to_dict()["augmentation_translator_options"] is not TrainConfig().to_dict()["augmentation_translator_options"]


def test_group_tables_and_recipes_resolve_to_the_same_options():
    grouped = TrainConfig.from_dict({"ot": {"epsilon": 0.1, "idf": True}, "checkpoints": {"keep": True}})
    flat = TrainConfig.from_dict({"ot_epsilon": 0.1, "ot_idf": True, "keep_checkpoints": True})
    assert grouped == flat
    recipe = TrainConfig.from_dict({"recipe": "english-teacher", "learning_rate": 1e-4})
    assert recipe.vocabulary.enabled and not recipe.freeze_embeddings
    assert recipe.learning_rate == 1e-4  # keys beside the recipe override it
    assert RECIPES["english-teacher"].as_flags() == "--vocabulary-transfer --learning-rate 0.0002 --no-freeze-embeddings"


LAYER_ORDER_CASES = {
    # a recipe's refinement is dropped when a later layer turns what it refines off (the flag after --recipe)
    "recipe then linear_map none": ({"recipe": "paper-pairing"}, {"linear_map": "none"}),
    # the run's own options beat the experiment's, which beat the recipe named anywhere
    "defaults' method over the run's recipe": ({"method": "optical+contrastive"}, {"recipe": "paper-pairing", "max_steps": 7}),
}


@pytest.mark.parametrize("case", sorted(LAYER_ORDER_CASES))
def test_one_layer_order_through_the_command_line_a_toml_file_and_an_experiment(case, tmp_path):
    """defaults < pairing recipe < named recipe < [defaults] / [train] < run / flags, whichever way the
    options come in: `train --recipe paper-pairing --linear-map none` was refused on the command
    line and accepted from an experiment."""
    from optical_bench.cli import build_parser, train_config_from_args
    from optical_bench.experiment import _run_config, load_experiment

    lower, upper = LAYER_ORDER_CASES[case]

    def flags(options):
        out = []
        for key, value in options.items():
            out += ["--recipe", value] if key == "recipe" else ["--" + key.replace("_", "-"), str(value)]
        return out

    def toml(options):
        return "".join(f"{key} = {json.dumps(value)}\n" for key, value in options.items())

    (tmp_path / "lower.toml").write_text("[train]\n" + toml(lower), encoding="utf-8")
    from_file_and_flags = train_config_from_args(
        build_parser().parse_args(["train", "--config", str(tmp_path / "lower.toml"), *flags(upper)])
    )
    experiment = tmp_path / "experiment.toml"
    experiment.write_text(f'[experiment]\nname = "x"\n\n[defaults]\n{toml(lower)}\n[[runs]]\nname = "run"\n{toml(upper)}', encoding="utf-8")
    loaded = load_experiment(experiment)
    from_experiment = _run_config(loaded, loaded["runs"][0], tmp_path / "out")
    from_layers = TrainConfig.from_layers([("lower", lower), ("upper", upper)])
    for config in (from_file_and_flags, from_experiment, from_layers):
        config.validate()
        config.out = "same"
    assert from_file_and_flags == from_experiment == from_layers
    if "linear_map" in upper:
        assert from_layers.linear_map == "none" and from_layers.linear_map_english_texts == 0
    else:
        assert from_layers.method == "optical+contrastive" and from_layers.max_steps == 7 and from_layers.linear_map == "both"


def test_unknown_options_name_the_file_and_suggest_the_key():
    with pytest.raises(ValueError, match=r"exp\.toml: unknown training option 'ot_epsilom' \(did you mean 'ot_epsilon'\?\)"):
        TrainConfig.from_dict({"ot_epsilom": 0.1}, source="exp.toml")
    with pytest.raises(ValueError, match=r"unknown option 'epsilom' in \[train\.ot\] \(did you mean 'epsilon'\?\)"):
        TrainConfig.from_dict({"ot": {"epsilom": 0.1}})
    with pytest.raises(ValueError, match="unknown recipe 'english'"):
        TrainConfig.from_dict({"recipe": "english"})
    with pytest.raises(ValueError, match=r"--ot-grad 'envlope' \(did you mean 'envelope'\?\)"):
        TrainConfig.from_dict({"ot_grad": "envlope"}).validate()


def test_every_option_has_a_flag_with_help_and_default():
    parser = build_parser()
    train = next(action for action in parser._subparsers._group_actions[0].choices.items() if action[0] == "train")[1]
    flags = {option for action in train._actions for option in action.option_strings}
    for _title, items in option_groups():
        for key, item in items:
            assert item.metadata["help"], key
            if key != "augmentation_translator_options":  # a table: TOML only
                assert "--" + key.replace("_", "-") in flags, key
    text = train.format_help()
    assert "optimal transport:" in text and "monolingual pre-training (MLM):" in text
    assert "--ot-epsilon EPSILON" in text and "(default: 0.05)" in text


def test_flags_override_the_recipe_and_the_toml_file(tmp_path):
    path = tmp_path / "train.toml"
    path.write_text("[train]\nmax_steps = 7\n[train.ot]\nepsilon = 0.2\n", encoding="utf-8")
    args = build_parser().parse_args(
        ["train", "--config", str(path), "--recipe", "english-teacher", "--learning-rate", "3e-4", "--ot-iters", "9"]
    )
    config = train_config_from_args(args)
    assert (config.max_steps, config.ot.epsilon, config.ot.iters) == (7, 0.2, 9)
    assert config.vocabulary.enabled and config.learning_rate == 3e-4
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.toml: not valid TOML .*line 1"):
        read_toml(bad)


@pytest.mark.parametrize("name", packaged_configs())
def test_every_shipped_experiment_config_still_loads(name, tmp_path):
    experiment = load_experiment(name)
    for run in experiment["runs"]:
        _run_config(experiment, run, tmp_path).validate()


@pytest.mark.parametrize(
    "reuser",
    ["studies/token_scoring_real_questions", "studies/fusion_weight_real_questions", "studies/news_distillation_heldout_questions"],
)
def test_studies_that_reuse_the_news_students_name_them_by_the_same_keys(reuser, tmp_path):
    """These studies reuse the models of the news study (same --out, or linked): each run they
    share by name must have the same folder, or they would train it again."""
    news = load_experiment("studies/news_distillation_real_questions")
    folders = {run["name"]: _run_config(news, run, tmp_path).out for run in news["runs"]}
    experiment = load_experiment(reuser)
    shared = [run for run in experiment["runs"] if run["name"] in folders]
    assert shared
    for run in shared:
        assert _run_config(experiment, run, tmp_path).out == folders[run["name"]], run["name"]


def test_a_recipe_in_a_run_gives_the_same_run_key_as_its_options(tmp_path):
    """A run's recipe is spelled out under the experiment's [defaults] (they win over any recipe)."""
    spelled = tmp_path / "spelled.toml"
    spelled.write_text(
        '[[runs]]\nname = "a"\nteacher = "all-minilm-l6-v2"\nvocabulary_transfer = true\nlearning_rate = 1e-3\nfreeze_embeddings = false\n',
        encoding="utf-8",
    )
    named = tmp_path / "named.toml"
    named.write_text(
        '[defaults]\nlearning_rate = 1e-3\n[[runs]]\nname = "a"\nteacher = "all-minilm-l6-v2"\nrecipe = "english-teacher"\n',
        encoding="utf-8",
    )
    one = _run_config(load_experiment(spelled), load_experiment(spelled)["runs"][0], tmp_path)
    two = _run_config(load_experiment(named), load_experiment(named)["runs"][0], tmp_path)
    assert one.out == two.out and one == two


@pytest.mark.parametrize(
    "recipe, arm, bitext, from_arms_student",
    [
        # the study's best arm: InfoNCE on gold passages from the pooled-question student
        ("gold-passages", "e5-supervised-from-questions-s42", "afriqa-gold-passages", True),
        # the study's 4x-steps arm
        ("question-bitext", "e5-optical-questions-last-240steps-s42", "afriqa-bitext", False),
    ],
)
def test_an_in_domain_recipe_trains_what_its_study_arm_trained(tmp_path, recipe, arm, bitext, from_arms_student):
    """``--recipe gold-passages`` / ``question-bitext`` train what the in-domain study's arms trained."""
    from optical_bench.experiment import _run_config, load_experiment

    experiment = load_experiment("studies/in_domain_data_real_questions_dev")
    arm = _run_config(experiment, next(r for r in experiment["runs"] if r["name"] == arm), tmp_path)
    options = {"recipe": recipe, "bitext": bitext, "teacher": "multilingual-e5-small-q4"}
    if from_arms_student:
        options["student_init"] = arm.student_init
    recipe = TrainConfig.from_dict(options)
    differ = {k for k, v in recipe.to_dict().items() if v != arm.to_dict()[k]}
    assert differ <= {"recipe", "out"}, differ
