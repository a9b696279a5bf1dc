from __future__ import annotations

import numpy as np
import pytest

from fairnotes import data
from fairnotes.data._derived import derived_name, parse

CONTROL = "digits|classes=0,1,2"
MIXED = "digits|classes=0,1,2|mix=0:8@0.5"


def _rows(images: np.ndarray) -> set[bytes]:
    return {r.tobytes() for r in images.reshape(len(images), -1)}


@pytest.mark.parametrize("split", ["train", "test"])
def test_class_sizes_equal_the_control_and_labels_are_relabelled(split):
    base, ctrl, mixed = data.load("digits", split), data.load(CONTROL, split), data.load(MIXED, split)
    assert ctrl.counts().tolist() == mixed.counts().tolist() == base.counts()[[0, 1, 2]].tolist()
    assert ctrl.class_names == ("0", "1", "2") and mixed.class_names == ("0 + 8", "1", "2")
    # relabelling as an oracle: new label j holds exactly base class classes[j]'s images, in base order
    for j, c in enumerate([0, 1, 2]):
        np.testing.assert_array_equal(ctrl.images[ctrl.labels == j], base.images[base.labels == c])
    assert mixed.name == MIXED and mixed.split == split and mixed.labels.dtype == np.int64


def test_reordered_classes_relabel_in_the_order_written():
    base, ds = data.load("digits", "test"), data.load("digits|classes=7,3", "test")
    assert ds.class_names == ("7", "3")
    np.testing.assert_array_equal(ds.images[ds.labels == 0], base.images[base.labels == 7])
    np.testing.assert_array_equal(ds.images[ds.labels == 1], base.images[base.labels == 3])


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.8])
def test_the_requested_fraction_is_replaced_by_the_source_class_in_place(split, fraction):
    base, ctrl = data.load("digits", split), data.load(CONTROL, split)
    ds = data.load(f"digits|classes=0,1,2|mix=0:8@{fraction}", split)
    rep = ds.attributes["replaced"].to_numpy()
    n0 = int((ctrl.labels == 0).sum())
    assert rep.sum() == round(fraction * n0) and not rep[ds.labels != 0].any()
    # replacements are source-class images of the same split; everything else is the control, position by position
    idx = ds.attributes["base_index"].to_numpy()
    np.testing.assert_array_equal(ds.images, base.images[idx])
    assert (base.labels[idx[rep]] == 8).all() and len(set(idx)) == len(idx)
    np.testing.assert_array_equal(ds.images[~rep], ctrl.images[~rep])
    np.testing.assert_array_equal(ds.labels, ctrl.labels)
    assert f"{round(fraction * n0)}/{n0} images of label 0" in ds.source and ds.meta["base"] == "digits"


def test_train_test_disjointness_is_inherited_from_the_base():
    for name in (CONTROL, MIXED):
        tr, te = data.load(name, "train"), data.load(name, "test")
        btr, bte = data.load("digits", "train"), data.load("digits", "test")
        assert _rows(tr.images) <= _rows(btr.images) and _rows(te.images) <= _rows(bte.images)
        assert len(_rows(tr.images) & _rows(te.images)) <= len(_rows(btr.images) & _rows(bte.images))


def test_selection_is_deterministic_and_smaller_fractions_nest():
    a, b = data.load(MIXED, "train"), data.load(MIXED, "train")
    np.testing.assert_array_equal(a.images, b.images)
    small = data.load("digits|classes=0,1,2|mix=0:8@0.25", "train").attributes
    big = a.attributes
    assert set(small.base_index[small.replaced]) <= set(big.base_index[big.replaced])
    assert set(np.flatnonzero(small.replaced)) <= set(np.flatnonzero(big.replaced))
    other = data.load("digits|classes=0,1,2|mix=0:9@0.5", "train")
    assert other.class_names[0] == "0 + 9" and not np.array_equal(other.images, a.images)


def test_several_mixes_and_max_per_class():
    ds = data.load("digits|classes=0,1,2,3|mix=2:9@0.3|mix=0:8@0.5", "test")
    ctrl = data.load("digits|classes=0,1,2,3", "test")
    assert ds.class_names == ("0 + 8", "1", "2 + 9", "3") and ds.counts().tolist() == ctrl.counts().tolist()
    base_label = ds.attributes["base_label"].to_numpy()
    assert set(base_label[ds.labels == 0]) == {0, 8} and set(base_label[ds.labels == 2]) == {2, 9}
    assert (data.load(MIXED, "train", max_per_class=5).counts() == 5).all()


def test_info_and_train_config_carry_derived_names():
    from fairnotes.jobs.train import TrainConfig
    e = data.info(MIXED)
    assert (e.name, e.profile, e.splits) == (MIXED, "laptop", ("train", "test"))
    assert data.info("cifar10|classes=0,1|mix=0:2@0.5").profile == "paper"
    keys = {TrainConfig(dataset=n, model="mlp").key() for n in ("digits", CONTROL, MIXED)}
    assert len(keys) == 3
    assert "|" not in "".join(data.available())


def test_canonical_names():
    assert derived_name("fashion-mnist", classes=range(5), mix={0: (9, 0.5)}) == \
        "fashion-mnist|classes=0,1,2,3,4|mix=0:9@0.5"
    d = parse(" digits | mix=2:9@0.30 | classes=0, 1, 2 | mix=0:8@.5 ")
    assert d.name == "digits|classes=0,1,2|mix=0:8@0.5|mix=2:9@0.3"
    assert d.mix == ((0, 8, 0.5), (2, 9, 0.3))


@pytest.mark.parametrize("name,error,match", [
    ("mnist-7k|classes=0,1", KeyError, "unknown base data set 'mnist-7k'.*available: .*digits"),
    ("digits|klasses=0,1", ValueError, "unknown part 'klasses=0,1'"),
    ("digits|classes=0", ValueError, "at least two distinct classes"),
    ("digits|classes=0,0,1", ValueError, "at least two distinct classes"),
    ("digits|classes=0,a", ValueError, "classes must be integers"),
    ("digits|classes=0,1|classes=2,3", ValueError, "classes= is given twice"),
    ("digits|classes=0,1,2|mix=0:2@0.5", ValueError, "mix source 2 is among classes="),
    ("digits|classes=0,1,2|mix=0:8@1", ValueError, r"fraction must be in \(0, 1\)"),
    ("digits|classes=0,1,2|mix=0:8@0", ValueError, r"fraction must be in \(0, 1\)"),
    ("digits|classes=0,1,2|mix=0:8@-0.2", ValueError, r"fraction must be in \(0, 1\)"),
    ("digits|classes=0,1,2|mix=0:8@half", ValueError, "fraction must be a number"),
    ("digits|classes=0,1,2|mix=0:8", ValueError, "<label>:<source>@<fraction>"),
    ("digits|classes=0,1,2|mix=0,1:8@0.5", ValueError, "mix label must be one integer"),
    ("digits|classes=0,1,2|mix=0:8@0.5|mix=0:9@0.5", ValueError, "label 0 is mixed twice"),
    ("digits|classes=0,1,2|mix=0:8@0.5|mix=1:8@0.5", ValueError, "source class 8 feeds two labels"),
    ("digits|mix=0:8@0.5", ValueError, "mix= needs classes="),
])
def test_bad_names_say_what_is_wrong_and_the_valid_form(name, error, match):
    with pytest.raises(error, match=match) as info:
        data.info(name)
    assert "derived names look like" in str(info.value)


@pytest.mark.parametrize("name,match", [
    ("digits|classes=0,1,12", r"classes \[12\] are not base classes of 'digits' \(0..9\)"),
    ("digits|classes=0,1,2|mix=3:8@0.5", r"mix label 3 is not one of the 3 new labels"),
    ("digits|classes=0,1,2|mix=0:10@0.5", "mix source 10 is not a base class"),
    ("digits|classes=0,1,2|mix=0:8@0.001", "need 0 < 0 <"),
])
def test_class_numbers_are_checked_on_load(name, match):
    with pytest.raises(ValueError, match=match):
        data.load(name, "test")
