from __future__ import annotations

import numpy as np
import pytest

from fairnotes.jobs import evaluate, train

FINAL_VARS = {"prediction", "target", "logits", "support", "predicted", "tp", "fp", "fn", "accuracy",
              "precision", "f1"}


@pytest.fixture
def image_folder(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    for wnid in ["n01440764", "n01443537", "n01484850"]:
        d = tmp_path / "val" / wnid
        d.mkdir(parents=True)
        for i in range(3):
            arr = rng.integers(0, 256, (30 + 5 * i, 40, 3), dtype=np.uint8)
            Image.fromarray(arr).save(d / f"img{i}.png")
    return tmp_path


def test_image_folder_with_workers(image_folder):
    base = dict(dataset="imagenet", split="val", model="resnet18", pretrained=False, data_root=str(image_folder),
                image_size=32, batch_size=4, device="cpu", progress=False)
    ds = evaluate.run(evaluate.EvalConfig(**base, num_workers=2))
    assert set(ds.data_vars) == FINAL_VARS
    assert dict(ds.sizes) == {"sample": 9, "label": 3}
    assert ds["target"].values.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert len(ds["class_name"]) == 3 and ds.attrs["image_size"] == 32
    assert ds["support"].values.tolist() == [3, 3, 3]
    # the worker path and the in-process path read the same pixels
    ds0 = evaluate.run(evaluate.EvalConfig(**base, num_workers=0))
    np.testing.assert_array_equal(ds0["logits"], ds["logits"])


def test_digits_with_trained_weights_reproduces_train_logits(tiny, tmp_path):
    tr = train.run(tiny(epochs=1, save_features=True))
    cfg = evaluate.EvalConfig(dataset="digits", split="test", model="cnn", model_kwargs={"width": 4},
                              pretrained=False, weights=str(tmp_path / "ckpt" / "last.pt"), device="cpu",
                              batch_size=100, save_features=True, progress=False, profile="tiny")
    ev = evaluate.run(cfg)
    # same schema as the train job's final part, without the epoch dim
    assert set(ev.data_vars) == FINAL_VARS | {"features"}
    assert "epoch" not in ev.dims
    np.testing.assert_allclose(ev["logits"], tr["logits"], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ev["prediction"], tr["prediction"])
    np.testing.assert_array_equal(ev["accuracy"], tr["accuracy"])


def test_eval_config_validation():
    with pytest.raises(ValueError, match="'train'"):
        evaluate.EvalConfig(dataset="digits", split="val", model="mlp", pretrained=False)
    with pytest.raises(ValueError, match="timm"):
        evaluate.EvalConfig(dataset="digits", split="test", model="no_such_net", pretrained=False)
