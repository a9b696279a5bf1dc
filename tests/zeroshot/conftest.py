"""Tiny random models for the zeroshot tests: an open_clip config and a diffusers pipeline, built offline."""
from __future__ import annotations

import json

import numpy as np
import pytest

TINY = "fairnotes-test-tiny-clip"
TINY_CFG = {"embed_dim": 16,
            "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
            "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture(scope="session")
def tiny_clip_name(tmp_path_factory):
    """A tiny ViT + text transformer registered with ``open_clip.add_model_config``."""
    import open_clip
    path = tmp_path_factory.mktemp("open_clip_configs") / f"{TINY}.json"
    path.write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(path)
    return TINY


@pytest.fixture()
def tiny_embedder(tiny_clip_name, one_torch_thread):
    import torch

    from fairnotes.zeroshot import create_embedder
    torch.manual_seed(0)
    return create_embedder(tiny_clip_name, None, device="cpu")


@pytest.fixture()
def images():
    return np.random.default_rng(0).integers(0, 256, size=(12, 3, 20, 20), dtype=np.uint8)


def _tiny_tokenizer(folder):
    """A character-level CLIPTokenizer from files (never ``from_pretrained`` a hub name offline)."""
    from transformers import CLIPTokenizer
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + list("0123456789.,-")
    vocab = {}
    for tok in ["<|startoftext|>", "<|endoftext|>", *chars, *[c + "</w>" for c in chars]]:
        vocab.setdefault(tok, len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory):
    """A random 32-px ``StableDiffusionPipeline`` saved with ``save_pretrained``; returns its folder."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel
    root = tmp_path_factory.mktemp("tiny-sd")
    tok = _tiny_tokenizer(root)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(8, 16), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
                                attention_head_dim=4, norm_num_groups=4)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(4, 4, 4, 4),
                        latent_channels=4, norm_num_groups=2, sample_size=32)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                                        num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=16,
                                        bos_token_id=0, eos_token_id=1, pad_token_id=1))
    tok.model_max_length = 16
    scheduler = DDIMScheduler(clip_sample=False, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    folder = root / "pipeline"
    pipe.save_pretrained(folder)
    return folder
