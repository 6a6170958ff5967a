"""The training configuration: overrides, fractions, YAML files, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfrobust.attacks.registry import attack_names
from dfrobust.config import Config, config_differences, load_config, save_config
from dfrobust.errors import DfrobustError


def test_overrides_take_short_keys_dashes_fractions_and_none() -> None:
    config = load_config(None, {"eps": "8/255", "lr": "0.1", "adv": "fgsm-rs", "num-nodes": "2", "workers": "none"})
    assert config.adv.eps == pytest.approx(8 / 255) and config.train.lr == 0.1
    assert config.train.num_nodes == 2 and config.data.workers is None
    assert load_config(None, {"train.lr": "1/8"}).train.lr == 0.125  # every float field reads fractions


def test_fgsm_rs_spelled_with_a_dash_names_the_registry_attack() -> None:
    # "fgsm-rs" (the paper's spelling, older configs) names the registry's fgsm_rs
    assert load_config(None, {"adv": "fgsm-rs"}).adv.method == "fgsm_rs"
    assert load_config(None, {"adv.method": "n-fgsm"}).adv.method == "n_fgsm"


def test_adv_method_must_be_a_registry_training_attack() -> None:
    for name in ("none", *attack_names("train")):
        assert load_config(None, {"adv": name}).adv.method == name
    with pytest.raises(DfrobustError, match="one of none, pgd, fgsm_rs, n_fgsm"):
        load_config(None, {"adv": "fgsm"})
    evaluation_only = sorted(set(attack_names()) - set(attack_names("train")) - {"clean"})
    assert evaluation_only  # e.g. square, apgd: they attack a trained model, they do not train one
    for name in evaluation_only:
        with pytest.raises(DfrobustError, match="adv.method"):
            load_config(None, {"adv": name})


def test_unknown_keys_and_bad_values_are_clear_errors() -> None:
    with pytest.raises(DfrobustError, match="unknown config key 'foo'; valid keys: data.manifest"):
        load_config(None, {"foo": "1"})
    with pytest.raises(DfrobustError, match="did you mean 8/255"):
        load_config(None, {"eps": "8"})
    with pytest.raises(DfrobustError, match="Expected train.epochs to be int, but got 'two'"):
        load_config(None, {"epochs": "two"})


def test_yaml_round_trip_and_unknown_yaml_key(tmp_path: Path) -> None:
    config = load_config(None, {"eps": "4/255", "schedule": "onecycle", "devices": "0,1"})
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config
    assert load_config(tmp_path / "config.yaml", {"lr": "0.5"}).train.lr == 0.5  # overrides win over the file
    (tmp_path / "bad.yaml").write_text("train:\n  learning_rate: 0.1\n")
    with pytest.raises(DfrobustError, match=r"bad.yaml: unknown key 'train.learning_rate'"):
        load_config(tmp_path / "bad.yaml")


def test_data_methods_from_a_string_or_a_yaml_list(tmp_path: Path) -> None:
    assert load_config(None).data.method_list is None
    assert load_config(None, {"methods": "Deepfakes, Face2Face"}).data.method_list == ("Deepfakes", "Face2Face")
    (tmp_path / "list.yaml").write_text("data:\n  methods: [Deepfakes, FaceSwap]\n")
    assert load_config(tmp_path / "list.yaml").data.method_list == ("Deepfakes", "FaceSwap")
    with pytest.raises(DfrobustError, match="Expected data.methods as names like Deepfakes"):
        load_config(None, {"methods": " , "})


def test_unreadable_or_malformed_yaml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(DfrobustError, match="cannot read config .*absent.yaml"):
        load_config(tmp_path / "absent.yaml")
    (tmp_path / "broken.yaml").write_text("train: [1, 2\n")
    with pytest.raises(DfrobustError, match="broken.yaml is not valid YAML"):
        load_config(tmp_path / "broken.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(DfrobustError, match="list.yaml: Expected a mapping of sections, but got list"):
        load_config(tmp_path / "list.yaml")


def test_from_dict_refuses_unknown_sections_and_config_differences_names_keys() -> None:
    with pytest.raises(DfrobustError, match=r"ckpt: unknown section\(s\) \['optim'\]"):
        Config.from_dict({"optim": {}}, source="ckpt")
    a = load_config(None)
    assert config_differences(a, a) == []
    assert config_differences(a, load_config(None, {"lr": "0.5", "eps": "8/255"})) == ["adv.eps", "train.lr"]
