"""The paper-profile folder data sets of the D3G chapter: attribute-folder and FairFace, on tiny folders."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fairnotes import data


def _image(path, value: int) -> None:
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(path)


@pytest.fixture()
def idenprof(tmp_path):
    """root/test/{doctor,fire_fighter}/: 2 + 1 PNGs; attributes.csv labels all but test/fire_fighter/2.png."""
    root = tmp_path / "idenprof"
    for f in ("test/doctor/0.png", "test/doctor/1.png", "test/fire_fighter/2.png", "train/doctor/3.png"):
        _image(root / f, 100)
    pd.DataFrame({"file": ["test/doctor/1.png", "test/doctor/0.png", "train/doctor/3.png"],
                  "race": ["Black", "White", "Indian"], "gender": ["Female", "Male", "Male"]}
                 ).to_csv(root / "attributes.csv", index=False)
    return root


def test_both_registered_as_paper_sets():
    assert {"attribute-folder", "fairface"} <= set(data.available("paper"))
    assert data.info("fairface").splits == ("train", "val")
    assert data.info("attribute-folder").splits == ("train", "val", "test")


def test_attribute_folder_joins_attributes_in_image_order(idenprof):
    ds = data.load("attribute-folder", "test", root=idenprof, size=16)
    assert ds.class_names == ("doctor", "fire fighter") and ds.labels.tolist() == [0, 0, 1]
    assert ds.images[2].shape == (3, 16, 16) and ds.images[0].dtype == np.uint8
    a = ds.attributes
    assert list(a.columns) == ["race", "gender"] and all(isinstance(a[c].dtype, pd.CategoricalDtype) for c in a)
    assert a["race"].tolist() == ["White", "Black", "unknown"]
    assert a["gender"].tolist() == ["Male", "Female", "unknown"]
    assert ds.meta == {"attributes_csv": str(idenprof / "attributes.csv"), "n_unlabelled": 1}
    assert ds.per_class(1).attributes["race"].tolist() == ["White", "unknown"]


def test_attribute_folder_csv_elsewhere(idenprof, tmp_path):
    other = tmp_path / "labels.csv"
    pd.DataFrame({"file": ["test/fire_fighter/2.png"], "age": ["20-29"]}).to_csv(other, index=False)
    ds = data.load("attribute-folder", "test", root=idenprof, attributes=other)
    assert ds.attributes["age"].tolist() == ["unknown", "unknown", "20-29"] and ds.meta["n_unlabelled"] == 2


def test_attribute_folder_errors(idenprof, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"expects root/val/<class>/<image>"):
        data.load("attribute-folder", "val", root=idenprof)
    with pytest.raises(FileNotFoundError, match="needs root="):
        data.load("attribute-folder", "test")
    with pytest.raises(FileNotFoundError, match=r"missing\.csv not found; expected a CSV with columns file"):
        data.load("attribute-folder", "test", root=idenprof, attributes=tmp_path / "missing.csv")
    (idenprof / "attributes.csv").write_text("path,race\ntest/doctor/0.png,White\n")
    with pytest.raises(ValueError, match="lacks column.* file; it has: path, race"):
        data.load("attribute-folder", "test", root=idenprof)


RACES = ["White", "Black", "Latino_Hispanic", "East Asian", "Southeast Asian", "Indian", "Middle Eastern"]


@pytest.fixture()
def fairface(tmp_path):
    """root/val/1..7.jpg, one per race, and root/fairface_label_val.csv."""
    root = tmp_path / "fairface"
    rows = []
    for i, race in enumerate(reversed(RACES), start=1):
        _image(root / "val" / f"{i}.jpg", 20 * i)
        rows.append({"file": f"val/{i}.jpg", "age": "20-29" if i % 2 else "more than 70",
                     "gender": "Male" if i % 2 else "Female", "race": race, "service_test": "True"})
    pd.DataFrame(rows).to_csv(root / "fairface_label_val.csv", index=False)
    return root


def test_fairface_labels_are_races_in_fixed_order(fairface):
    ds = data.load("fairface", "val", root=fairface, size=16)
    assert ds.class_names == ("White", "Black", "Latino Hispanic", "East Asian", "Southeast Asian", "Indian",
                              "Middle Eastern")
    assert ds.labels.tolist() == [6, 5, 4, 3, 2, 1, 0]
    assert ds.images[0].shape == (3, 16, 16) and int(ds.images[1][0, 0, 0]) in range(35, 46)  # JPEG of value 40
    a = ds.attributes
    assert list(a.columns) == ["race", "gender", "age"]
    assert list(a["race"].cat.categories) == RACES and a["race"].tolist() == RACES[::-1]
    assert list(a["gender"].cat.categories) == ["Male", "Female"]
    assert a["age"].cat.categories[-1] == "more than 70" and a["age"].tolist()[:2] == ["20-29", "more than 70"]
    assert "ground-truth" in ds.source


def test_fairface_errors(fairface, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"expects root/train/<n>\.jpg"):
        data.load("fairface", "train", root=fairface)
    (fairface / "val" / "3.jpg").unlink()
    (fairface / "val" / "5.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"2 image\(s\) listed in .* e\.g\. val/3\.jpg, val/5\.jpg"):
        data.load("fairface", "val", root=fairface)
    (fairface / "fairface_label_val.csv").unlink()
    with pytest.raises(FileNotFoundError, match="fairface_label_val.csv not found; expected a CSV with columns file, "
                                                "age, gender, race"):
        data.load("fairface", "val", root=fairface)


def test_fairface_label_file_checked(fairface):
    table = pd.read_csv(fairface / "fairface_label_val.csv")
    table.drop(columns="race").to_csv(fairface / "fairface_label_val.csv", index=False)
    with pytest.raises(ValueError, match="lacks column.* race; it has: file, age, gender, service_test"):
        data.load("fairface", "val", root=fairface)
    table.assign(race="Martian").to_csv(fairface / "fairface_label_val.csv", index=False)
    with pytest.raises(ValueError, match="unknown race value.*Martian"):
        data.load("fairface", "val", root=fairface)
