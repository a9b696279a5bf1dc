"""The D3G chapter's paper profile end to end: a tiny random open_clip model, a tiny random diffusers pipeline and a
tiny attribute folder (an IdenProf stand-in with a race/gender CSV), offline."""
from __future__ import annotations

import numpy as np
import pytest

CLASSES = ("chef", "pilot")
RACES = ("Black", "White")


@pytest.fixture()
def folder(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    root = tmp_path / "idenprof"
    rows = ["file,race,gender"]
    for split in ("train", "test"):
        for c, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for i in range(6):
                arr = rng.integers(0, 80, size=(24, 24, 3), dtype=np.uint8)
                arr[..., c] += 150
                Image.fromarray(arr).save(root / split / name / f"{i}.png")
                rows.append(f"{split}/{name}/{i}.png,{RACES[i % 2]},{'male' if i < 3 else 'female'}")
    (root / "attributes.csv").write_text("\n".join(rows) + "\n")
    return root


def test_paper_profile_end_to_end(tiny_clip_name, tiny_pipeline, folder, tmp_path, one_torch_thread):
    import torch

    from fairnotes.analysis import VERDICTS, d3g
    p = d3g.Params(profile="tiny", model=tiny_clip_name, pretrained=None, dataset="attribute-folder",
                   data_root=str(folder), seeds=(0, 1), paper_tasks=("classes", "race"), group_attributes=("race",
                   "gender"), strategies=("none", "gender"), images_per_prompt=(1, 2), pipeline=str(tiny_pipeline),
                   generation_steps=2, generation_size=32, generated_folder=str(tmp_path / "gen"), support_size=32,
                   n_boot=20, null_sims=50)
    torch.manual_seed(0)
    ds = d3g.run(p, progress=False)
    assert list(ds["setting"].values) == [f"{t}/{s}/{m}" for t in ("classes", "race") for s in ("none", "gender")
                                          for m in ("standard", "average")]
    assert set(ds["race"].values) == set(RACES) and set(ds["gender"].values) == {"male", "female"}
    np.testing.assert_array_equal(ds["race_count"].sel(setting="classes/none/standard").values, [6, 6])
    assert bool(ds["race_small"].all())  # 6 images a group: flagged
    # each image generated once: 12 distinct prompts (2 classes × (1 plain + 2 gender prompts) for each of the two
    # tasks) × 2 images (standard reuses the average's first) × 2 seeds
    assert len(list((tmp_path / "gen").glob("*.png"))) == 12 * 2 * 2
    c = d3g.claims(ds)
    assert {"d3g.race7_gain", "d3g.profession_gain", "d3g.no_harm"} <= set(c["claim"].values)
    assert set(c["verdict"].values) <= set(VERDICTS)
    assert ds.attrs["claim_race7"] == "race/none/standard" and ds.attrs["claim_balanced"] == "race/gender/average"
    g = d3g.glue_values(ds)
    assert "d3_race7_gain" in g and "d3_null_tuned_mean" in g


def test_paper_profile_bad_input():
    from fairnotes.analysis import ParamError, d3g
    with pytest.raises(ParamError, match="never chosen on the test split"):
        d3g.Params(model="ViT-L-14", validation_split="test")
    with pytest.raises(ParamError, match="strategies"):
        d3g.Params(model="ViT-L-14", strategies=("race9",))
