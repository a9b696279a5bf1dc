from __future__ import annotations

import gzip

import numpy as np
import pytest

from fairnotes import data
from fairnotes.data import _laptop


@pytest.mark.parametrize("name,n_train,n_test,shape", [
    ("digits", 1257, 540, (1, 8, 8)),
    ("mnist-5k", 4000, 1000, (1, 28, 28)),
    ("fashion-mnist", 60000, 10000, (1, 28, 28)),
])
def test_laptop_sets_are_balanced_uint8(name, n_train, n_test, shape):
    tr, te = data.load(name, "train"), data.load(name, "test")
    assert (len(tr), len(te)) == (n_train, n_test)
    for ds in (tr, te):
        assert ds.images.dtype == np.uint8 and ds.images.shape[1:] == shape
        assert ds.labels.dtype == np.int64 and ds.num_classes == 10
        assert set(np.unique(ds.labels)) == set(range(10))
        assert ds.source and ds.license
    counts = tr.counts()
    assert counts.max() / counts.min() < 1.06  # balanced (digits is nearly so)
    assert tr.images.max() == 255


def test_splits_are_disjoint_and_deterministic():
    from sklearn.datasets import load_digits
    full = load_digits()
    tr, te = data.load("digits", "train"), data.load("digits", "test")
    # every image appears exactly once across the two splits: compare as byte rows
    rows = lambda x: {r.tobytes() for r in x.reshape(len(x), -1)}  # noqa: E731
    assert len(tr) + len(te) == len(full.target)
    assert np.array_equal(tr.images, data.load("digits", "train").images)
    # stratified: class proportions equal up to one image
    assert np.abs(te.counts() / len(te) - tr.counts() / len(tr)).max() < 0.01
    assert len(rows(tr.images) & rows(te.images)) <= 5  # a few digit images are exact duplicates


def test_fashion_labels_match_idx_files():
    raw = _laptop.FASHION_DEBIAN_DIR / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(raw) as f:
        expected = np.frombuffer(f.read()[8:], dtype=np.uint8)
    assert np.array_equal(data.load("fashion-mnist", "test").labels, expected)
    assert data.load("fashion-mnist", "test").class_names[9] == "Ankle boot"


def test_max_per_class_and_subset():
    ds = data.load("digits", "train", max_per_class=3)
    assert len(ds) == 30 and (ds.counts() == 3).all()
    sub = ds.per_class(2, seed=1)
    assert (sub.counts() == 2).all()
    assert sub.materialize() is sub


def test_unknown_name_lists_choices():
    with pytest.raises(KeyError, match="available: .*digits.*fashion-mnist"):
        data.load("cifar-1000")


def test_bad_split_names_valid_splits():
    with pytest.raises(ValueError, match="valid splits: train, test"):
        data.load("digits", "validation")


def test_missing_fashion_files_name_the_command(monkeypatch, tmp_path):
    monkeypatch.setattr(_laptop, "FASHION_DEBIAN_DIR", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        data.load("fashion-mnist", "test")


def test_missing_paper_data_says_how(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        data.load("cifar100", "test", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="root="):
        data.load("imagenet", "val")


def test_imagenet_folder_is_lazy(tmp_path):
    from PIL import Image
    for cls in ("n01440764", "n01443537"):
        (tmp_path / "val" / cls).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((40, 60, 3), 50 * i, np.uint8)).save(tmp_path / "val" / cls / f"{i}.png")
    ds = data.load("imagenet", "val", root=tmp_path, size=32)
    assert len(ds) == 4 and ds.num_classes == 2
    assert ds.images[0].shape == (3, 32, 32) and ds.images[0].dtype == np.uint8
    assert ds.class_names[0].lower().startswith("tench")  # WordNet id mapped to a readable name
    assert ds.materialize().images.shape == (4, 3, 32, 32)


def test_cards():
    cards = data.cards(["digits", "mnist-5k"])
    assert list(cards["n_images"].values) == [1797, 5000]
    assert float(cards["imbalance"].sel(dataset="mnist-5k")) == 1.0
    table = data.cards_table(cards)
    assert table.loc["digits", "train / test"] == "1,257 / 540"


def test_long_tailed_subset_follows_the_exponential_profile():
    ds = data.load("mnist-5k", "train").long_tailed(300, 10.0, seed=1)
    expected = [round(300 * 10 ** (-c / 9)) for c in range(10)]
    assert ds.counts().tolist() == expected and expected[0] / expected[-1] == 10
    with pytest.raises(ValueError, match="ratio >= 1"):
        data.load("digits", "train").long_tailed(10, 0.5)
