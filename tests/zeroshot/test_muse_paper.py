"""The MuSE chapter's paper profile end to end on a tiny random open_clip model, a tiny random diffusers pipeline
and a tiny image folder: offline, seconds."""
from __future__ import annotations

import numpy as np
import pytest

CLASSES = ("red_rose", "blue_bell", "green_fern")


@pytest.fixture()
def folder(tmp_path):
    """root/{train,val,test}/<class>/<i>.png: 4 images per class and split, each class its own colour."""
    from PIL import Image
    rng = np.random.default_rng(0)
    root = tmp_path / "flowers"
    for split in ("train", "val", "test"):
        for c, name in enumerate(CLASSES):
            d = root / split / name
            d.mkdir(parents=True)
            for i in range(4):
                arr = rng.integers(0, 60, size=(24, 24, 3), dtype=np.uint8)
                arr[..., c] += 150
                Image.fromarray(arr).save(d / f"{i}.png")
    return root


def _params(tiny_clip_name, tiny_pipeline, folder, tmp_path, **kw):
    from fairnotes.analysis import muse
    base = dict(profile="tiny", model=tiny_clip_name, pretrained=None, dataset="image-folder", data_root=str(folder),
                seeds=(0, 1), images_per_class=(1, 2), main_images=2, n_boot=20, templates="photo",
                pipeline=str(tiny_pipeline), generation_steps=2, generation_size=32,
                generated_folder=str(tmp_path / "generated"), support_size=32)
    return muse.Params(**{**base, **kw})


def test_paper_profile_end_to_end(tiny_clip_name, tiny_pipeline, folder, tmp_path, monkeypatch, one_torch_thread):
    from diffusers import DiffusionPipeline

    from fairnotes import analysis, data
    from fairnotes.analysis import VERDICTS, muse
    import torch
    p = _params(tiny_clip_name, tiny_pipeline, folder, tmp_path)
    torch.manual_seed(0)  # the random-weight CLIP is drawn inside run(): the same draw in both runs
    ds = muse.run(p, progress=False)
    assert list(ds["setting"].values) == ["generated-1", "generated-2"]
    assert list(ds["kind"].values) == ["generated", "generated"] and list(ds["n_images"].values) == [1, 2]
    np.testing.assert_allclose(ds["n_supports"].values, [1, 2])
    assert np.isnan(ds["precision"].values).all()  # nobody labels generated images
    test = data.load("image-folder", "test", root=folder)
    assert ds.sizes["label"] == 3 and list(ds["class_name"].values) == ["blue bell", "green fern", "red rose"]  # folder order
    assert int(ds.attrs["n_test"]) == len(test) and int(ds.attrs["n_val"]) == 12
    # the sweep's ends are the text-only and image-only entries, in every setting
    for s in ds["setting"].values:
        one = ds.sel(setting=s)
        assert float(one["curve_accuracy"].sel(w=1.0)) == pytest.approx(float(one["accuracy"].sel(entry="text")))
        assert float(one["curve_accuracy"].sel(w=0.0)) == pytest.approx(float(one["accuracy"].sel(entry="image")))
    # the text-only entry does not depend on the supports
    assert float(ds["accuracy"].sel(setting="generated-1", entry="text")) == \
        pytest.approx(float(ds["accuracy"].sel(setting="generated-2", entry="text")))
    files = sorted((tmp_path / "generated").glob("*.png"))
    assert len(files) == 3 * 2 * 2  # classes × max images per class × seeds, generated once
    c = muse.claims(ds)
    assert set(c["claim"].values) == {f"{k}:generated" for k in ("muse.improves_accuracy", "muse.w_mostly_text",
                                                                 "muse.gain_3pct", "muse.narrows_disparity")}
    assert set(c["verdict"].values) <= set(VERDICTS)
    g = muse.glue_values(ds)
    assert g["mu_generated_n_images"] == 2 and g["mu_n_seeds"] == 2
    # a re-run with refreshed analysis reuses every generated image: no pipeline is loaded
    monkeypatch.setattr(DiffusionPipeline, "from_pretrained", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("generated again")))
    torch.manual_seed(0)
    again = muse.run(p, refresh=True, progress=False)
    np.testing.assert_array_equal(again["w_heldout"].values, ds["w_heldout"].values)
    assert sorted((tmp_path / "generated").glob("*.png")) == files
    assert analysis.check_params("muse", {"seeds": [0]})["seeds"] == (0,)


def test_paper_profile_bad_input_fails_before_work(tiny_clip_name, tiny_pipeline, folder, tmp_path):
    from fairnotes.analysis import ParamError
    with pytest.raises(ParamError, match="never chosen on the test split"):
        _params(tiny_clip_name, tiny_pipeline, folder, tmp_path, validation_split="test")
    with pytest.raises(ParamError, match="unknown data set"):
        _params(tiny_clip_name, tiny_pipeline, folder, tmp_path, dataset="no-such-data")
    with pytest.raises(ParamError, match="main_images"):
        _params(tiny_clip_name, tiny_pipeline, folder, tmp_path, main_images=5)
    with pytest.raises(ParamError, match="needs model 'lit'"):
        _params(tiny_clip_name, tiny_pipeline, folder, tmp_path, dataset="emoji-heldout")
