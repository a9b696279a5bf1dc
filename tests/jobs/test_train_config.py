from __future__ import annotations

import pytest

from fairnotes.jobs._config import load_yaml
from fairnotes.jobs.train import TrainConfig


@pytest.mark.parametrize("field,value,words", [
    ("optimizer", "adam", ["'sgd'", "'adamw'"]),
    ("schedule", "linear", ["'cosine'", "'constant'", "'step'"]),
    ("device", "gpu", ["'auto'", "'cpu'", "'cuda'"]),
    ("profile", "huge", ["'laptop'", "'paper'", "'tiny'"]),
    ("augment", "flip-rotate", ["crop", "flip"]),
    ("augment", "crop-crop", ["crop", "flip"]),
])
def test_bad_string_option_names_the_choices(field, value, words):
    with pytest.raises(ValueError) as err:
        TrainConfig(dataset="digits", model="mlp", **{field: value})
    for w in words:
        assert w in str(err.value)


def test_unknown_model_lists_registered_and_mentions_timm():
    with pytest.raises(ValueError) as err:
        TrainConfig(dataset="digits", model="resnet21")
    msg = str(err.value)
    assert "resnet20" in msg and "mlp" in msg and "timm" in msg


def test_timm_names_are_accepted():
    assert TrainConfig(dataset="digits", model="resnet18").model == "resnet18"


def test_unknown_dataset_lists_the_valid_ones():
    with pytest.raises(KeyError, match="fashion-mnist"):
        TrainConfig(dataset="cifar11", model="mlp")


@pytest.mark.parametrize("kw", [{"epochs": -1}, {"batch_size": -1}, {"image_size": 0}, {"train_per_class": 1.5},
                                {"lr": 0}, {"momentum": 1.0}, {"model_kwargs": [1]}])
def test_bad_numbers(kw):
    with pytest.raises(ValueError):
        TrainConfig(dataset="digits", model="mlp", **kw)


def test_key_ignores_bookkeeping_fields():
    a = TrainConfig(dataset="digits", model="mlp")
    b = TrainConfig(dataset="digits", model="mlp", checkpoint_dir="/x", keep_checkpoint=False, progress=True)
    c = TrainConfig(dataset="digits", model="mlp", seed=1)
    assert a.key() == b.key() != c.key()


def test_yaml_config_and_overrides(tmp_path):
    p = tmp_path / "cfg.yaml"
    p.write_text("dataset: digits\nmodel: mlp\nmodel_kwargs: {width: 8}\nepochs: 3\n")
    cfg = load_yaml(TrainConfig, str(p), ["epochs=5", "lr=0.2"])
    assert (cfg.model_kwargs, cfg.epochs, cfg.lr) == ({"width": 8}, 5, 0.2)
    with pytest.raises(ValueError, match="unknown TrainConfig fields: epoch"):
        load_yaml(TrainConfig, str(p), ["epoch=5"])


def test_train_imbalance_makes_a_long_tailed_run_and_keeps_old_keys(tmp_path, monkeypatch):
    from fairnotes.jobs import train
    base = train.TrainConfig(dataset="digits", model="mlp", model_kwargs={"width": 16}, epochs=1,
                             train_per_class=40, progress=False)
    lt = train.TrainConfig(**{**base.__dict__, "train_imbalance": 10.0})
    assert lt.key() != base.key()
    assert train.TrainConfig(**{**base.__dict__, "train_imbalance": None}).key() == base.key()
    monkeypatch.setenv("FAIRNOTES_CACHE", str(tmp_path))
    ds = train.run(lt)
    assert ds.attrs["n_train"] == sum(max(1, round(40 * 10 ** (-c / 9))) for c in range(10))
    with pytest.raises(ValueError, match="train_imbalance"):
        train.TrainConfig(dataset="digits", train_imbalance=0.5)
