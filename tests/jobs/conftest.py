from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def tiny(tmp_path):
    """A TrainConfig factory for seconds-long CPU runs on digits, checkpointing under tmp_path."""
    from fairnotes.jobs.train import TrainConfig

    def make(**kw):
        base = dict(dataset="digits", model="cnn", model_kwargs={"width": 4}, epochs=2, batch_size=32,
                    lr=0.05, train_per_class=12, augment="crop", device="cpu", progress=False,
                    profile="tiny", checkpoint_dir=str(tmp_path / "ckpt"))
        base.update(kw)
        return TrainConfig(**base)

    return make
