from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from fairnotes.metrics import difficulty_classes, difficulty_groups


def test_ten_classes_are_three_four_three():
    acc = [0.50, 0.95, 0.20, 0.70, 0.10, 0.85, 0.60, 0.30, 0.90, 0.40]
    # ranked by hand: 4 (0.10) < 2 < 7 < 9 < 0 < 6 < 3 < 5 < 8 < 1 (0.95)
    assert difficulty_classes(acc) == {"hard": [4, 2, 7], "medium": [9, 0, 6, 3], "easy": [5, 8, 1]}
    g = difficulty_groups(acc)
    assert g.dims == ("label",) and g.name == "difficulty" and g["label"].values.tolist() == list(range(10))
    assert g.values.tolist() == ["medium", "easy", "hard", "medium", "hard", "easy", "medium", "hard", "easy",
                                 "medium"]


def test_three_four_and_hundred_classes():
    assert difficulty_groups([0.2, 0.9, 0.5]).values.tolist() == ["hard", "easy", "medium"]
    assert difficulty_classes([0.9, 0.3, 0.6, 0.8]) == {"hard": [1], "medium": [2, 3], "easy": [0]}
    # 100 classes: label l has accuracy rank[l]; hard is rank < 33, easy rank >= 67, 34 medium
    rank = np.random.default_rng(0).permutation(100)
    groups = difficulty_classes(rank / 100)
    assert [len(groups[g]) for g in ("hard", "medium", "easy")] == [33, 34, 33]
    assert groups["hard"] == np.argsort(rank)[:33].tolist()
    assert sorted(groups["easy"]) == np.flatnonzero(rank >= 67).tolist()
    assert sorted(groups["medium"]) == np.flatnonzero((rank >= 33) & (rank < 67)).tolist()


def test_fewer_than_three_classes_are_all_medium():
    assert difficulty_groups([0.1, 0.9]).values.tolist() == ["medium", "medium"]
    assert difficulty_classes([0.4]) == {"hard": [], "medium": [0], "easy": []}


def test_ties_rank_the_lower_label_as_harder():
    # all equal: label order is the ranking
    assert difficulty_classes([0.5] * 6) == {"hard": [0, 1], "medium": [2, 3], "easy": [4, 5]}
    # a tie across the hard/medium boundary: label 1 is harder than label 3
    assert difficulty_classes([0.9, 0.3, 0.1, 0.3, 0.8, 0.7]) == {"hard": [2, 1], "medium": [3, 5], "easy": [4, 0]}


def test_data_array_keeps_its_label_coords_and_ties_follow_label_values():
    acc = xr.DataArray([0.2, 0.2, 0.1], dims="label",
                       coords={"label": [5, 3, 9], "class_name": ("label", ["five", "three", "nine"])})
    g = difficulty_groups(acc)
    assert g["label"].values.tolist() == [5, 3, 9] and g["class_name"].values.tolist() == ["five", "three", "nine"]
    assert g.values.tolist() == ["easy", "medium", "hard"]  # 0.2 tie: label 3 before label 5
    assert difficulty_classes(acc) == {"hard": [9], "medium": [3], "easy": [5]}


def test_bad_input():
    with pytest.raises(ValueError, match="NaN for labels \\[1\\]"):
        difficulty_groups([0.5, np.nan, 0.2])
    with pytest.raises(ValueError, match="reduce"):
        difficulty_groups(xr.DataArray(np.zeros((2, 3)), dims=("seed", "label")))
    with pytest.raises(ValueError, match="1-D"):
        difficulty_groups(np.zeros((2, 3)))
