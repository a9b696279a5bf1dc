"""The multi-label chapter's paper profile on a tiny multi-label folder (an Inclusive Images stand-in) and a tiny
MR2-like evaluation folder with self-identified groups: offline, the bundled Lite0 weights."""
from __future__ import annotations

import numpy as np
import pytest


def _folder(root, splits, rows_of, seed):
    from PIL import Image
    rng = np.random.default_rng(seed)
    lines = ["file,labels,race,gender"]
    for split in splits:
        (root / split).mkdir(parents=True)
        for i, (labels, race, gender) in enumerate(rows_of(split)):
            arr = rng.integers(0, 256, size=(20, 20, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / split / f"{i}.png")
            lines.append(f"{split}/{i}.png,{labels},{race},{gender}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


def test_multilabel_folder_loader(tmp_path):
    from fairnotes import data
    root = _folder(tmp_path / "f", ["train"], lambda s: [("person;man", "A", "man"), ("dog", "", ""),
                                                          ("person;woman;dog", "B", "woman")], 0)
    ds = data.load("multilabel-folder", "train", root=root, size=16)
    assert ds.meta["label_names"] == ["dog", "man", "person", "woman"]
    np.testing.assert_array_equal(ds.meta["multi_hot"], [[0, 1, 1, 0], [1, 0, 0, 0], [1, 0, 1, 1]])
    assert list(ds.attributes["race"].astype(str)) == ["A", "unknown", "B"]
    assert np.asarray(ds.images[0]).shape == (3, 16, 16)
    sub = ds.subset(np.array([2, 0]))  # per-sample meta arrays follow the samples
    np.testing.assert_array_equal(sub.meta["multi_hot"], ds.meta["multi_hot"][[2, 0]])
    with pytest.raises(FileNotFoundError, match="no split folder"):
        data.load("multilabel-folder", "test", root=root)
    (root / "labels.csv").write_text("path,labels\nx,y\n")
    with pytest.raises(ValueError, match="lacks the column"):
        data.load("multilabel-folder", "train", root=root)


def test_paper_profile_end_to_end(tmp_path, one_torch_thread):
    from fairnotes.analysis import VERDICTS, multilabel as ml
    genders = ["man", "woman"]

    def train_rows(split):
        n = 16 if split == "train" else 8
        return [(f"person;{genders[i % 2]}" + (";dog" if i % 3 == 0 else ""), "AB"[i // 2 % 2], genders[i % 2])
                for i in range(n)]

    inc = _folder(tmp_path / "inclusive", ["train", "val"], train_rows, 0)
    mr2 = _folder(tmp_path / "mr2", ["test"], lambda s: [(f"person;{genders[i % 2]}", "AB"[i // 2 % 2],
                                                          genders[i % 2]) for i in range(12)], 1)
    p = ml.Params(profile="paper", dataset="multilabel-folder", data_root=str(inc), eval_dataset="multilabel-folder",
                  eval_root=str(mr2), eval_split="test", group_attributes=("race", "gender"), image_size=64,
                  seeds=(0, 1), epochs=5, n_boot=20, cam_per_group=0)
    ds = ml.run(p, progress=False)
    assert ds.attrs["group_attr"] == "race" and set(ds.attrs["events"]) == {"person", "wrong_gender"}
    assert list(ds["label_name"].values) == ["dog", "man", "person", "woman"]
    np.testing.assert_array_equal(ds["race_person"].values, ["A", "B"])
    assert int(ds["person_by_race_count"].sum()) == 12 and "cam_share" not in ds
    c = ml.claims(ds)
    assert {"ml.same_map", "ml.bce_narrows_person_gap", "ml.bce_narrows_wrong_gender_gap"} == set(c["claim"].values)
    assert set(c["verdict"].values) <= set(VERDICTS)
    from fairnotes.analysis import _multilabel_views as views
    assert "evaluated on multilabel-folder" in views.profile_text(ds) and not views.group_table(ds, "race").empty
    g = ml.glue_values(ds)
    assert "ml_person_delta_gap" in g and "ml_profession_rate_sm" not in g
