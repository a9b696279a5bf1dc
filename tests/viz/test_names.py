"""Display names of model specs: readable, short, distinct within their set; the specs themselves untouched."""
from __future__ import annotations

import pytest

from fairnotes.viz import BOOK_NAMES, display_name, display_names

VIT = "vit:embed_dim=64,depth=4,num_heads=2,patch_size=4"
BOOK_MODELS = ["mlp", "cnn", "resnet8", VIT, "cnn:width=4", "cnn:width=8", "cnn:width=16"]


def test_the_books_specs_read_well():
    assert display_names(BOOK_MODELS) == ["mlp", "cnn", "resnet8", "ViT (64-d, 4 layers)",
                                          "cnn (width=4)", "cnn (width=8)", "cnn (width=16)"]
    assert display_name(VIT) == BOOK_NAMES[VIT]


@pytest.mark.parametrize("spec, name", [
    ("resnet8", "resnet8"),  # a bare name is already short
    ("simclr-probe:epochs=8", "simclr-probe (8 epochs)"),
    ("simclr-finetune:epochs=1,flip=false", "simclr-finetune (1 epoch, flip=no)"),
    ("cutmix:alpha=0.5", "cutmix (alpha=0.5)"),
    ("x:a=1,b=2,c=3", "x (a=1, b=2, …)"),  # at most two arguments; the ellipsis says more were set
    ("vit_base_patch16_224.augreg2_in21k_ft_in1k", "vit_base_patch16_224 (augreg2…)"),
])
def test_generic_names(spec, name):
    assert display_name(spec) == name


def test_names_are_short():
    long = ["vit:embed_dim=64,depth=4,num_heads=2,patch_size=4", "simclr-finetune:epochs=500,batch_size=512,lr=0.001",
            "vit_small_patch16_224:img_size=32,patch_size=4", "mlp:width=16,depth=3,dropout=0.1,act=gelu"]
    for spec, name in zip(long, display_names(long)):
        assert len(name) <= 32 and len(name) < len(spec), (spec, name)


def test_names_are_unique_and_tell_specs_apart():
    specs = [VIT, "vit:embed_dim=64,depth=6,num_heads=2,patch_size=4"]
    assert display_names(specs) == ["ViT (4 layers, 64-d, …)", "ViT (6 layers, 64-d, …)"]  # what differs comes first
    specs = [VIT, "vit:embed_dim=64,depth=4,num_heads=4,patch_size=4", "vit:depth=6"]
    names = display_names(specs)
    assert len(set(names)) == 3 and names[2] == "ViT (6 layers)"
    specs = ["vit_base_patch16_224.augreg2_in21k_ft_in1k", "vit_base_patch16_224.augreg2_in1k"]
    assert len(set(display_names(specs))) == 2
    assert display_name(VIT, among=["vit:embed_dim=64,depth=6,num_heads=2,patch_size=4"]) == "ViT (4 layers, 64-d, …)"


def test_same_spec_same_name():
    assert display_names(["cnn:width=4", "cnn", "cnn:width=4"]) == ["cnn (width=4)", "cnn", "cnn (width=4)"]
    assert display_names([]) == []


def test_prevalence_labels_use_them():
    """The prevalence chapter's row labels and legends come from these names; its data keep the specs."""
    from fairnotes.analysis import prevalence as P
    assert P._display_names(BOOK_MODELS) == display_names(BOOK_MODELS)


def test_a_weights_path_shows_its_file_name_only():
    from fairnotes.viz import display_name
    assert display_name("resnet18:weights=/home/u/ckpt/mine.safetensors") == "resnet18 (weights mine.safetensors)"
    assert display_names(["resnet18:weights=/a/x.pt", "resnet18:weights=/b/y.pt"]) == \
        ["resnet18 (weights x.pt)", "resnet18 (weights y.pt)"]
