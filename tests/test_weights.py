"""Your own weights (the ``weights=`` model-spec key): loading, evaluation-only runs, fine-tuning, cache keys."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from fairnotes import augment, data, models
from fairnotes.jobs import evaluate, features, sweep, train
from fairnotes.models import WeightsError

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DIGITS = dict(dataset="digits", batch_size=32, lr=0.05, train_per_class=12, augment="crop", device="cpu",
              progress=False, profile="tiny")


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


def _net(name="cnn", k=10, chans=1, seed=3, **kw):
    torch.manual_seed(seed)
    return models.create(name, k, chans, 8, **kw)


def _save(net, path, wrap=lambda sd: sd):
    sd = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    if str(path).endswith(".safetensors"):
        save_file(wrap(sd), str(path))
    else:
        torch.save(wrap(sd), path)
    return str(path)


def _oracle_logits(net):
    """The in-memory model's logits on the digits test split (plain torch forward)."""
    test = data.load("digits", "test")
    mean, std = models.normalization(net, 1)
    x = augment.to_float(torch.from_numpy(np.ascontiguousarray(test.images)), mean, std, size=8)
    net.eval()
    with torch.no_grad():
        return net(x).numpy(), test.labels


def test_existing_keys_unchanged():
    """Keys of configs without a weights file, computed before the feature existed."""
    assert train.TrainConfig().key() == "dc14a2d1d1c4"
    assert train.TrainConfig(dataset="digits", model="cnn", model_kwargs={"width": 4}, epochs=2, batch_size=32,
                             lr=0.05, train_per_class=12, augment="crop", device="cpu", progress=False,
                             profile="tiny").key() == "cf099cebdef4"
    assert train.TrainConfig(dataset="fashion-mnist", model="vit_small_patch16_224",
                             model_kwargs={"img_size": 32, "patch_size": 4}, pretrained=True).key() == "f0195335dba6"
    from fairnotes.results import cache_path
    assert cache_path(evaluate.run, evaluate.EvalConfig(dataset="digits", split="test", model="cnn",
                                                        pretrained=False)).name == "1ee21d6f5b39.nc"
    assert cache_path(evaluate.run, evaluate.EvalConfig(dataset="digits", split="test",
                                                        model="resnet18")).name == "2486a6d7456e.nc"
    assert features.cache_path("cnn", "digits", "test", pretrained=False,
                               model_kwargs={"width": 4}).name == "cnn-digits-test-c55bda05ca74.nc"
    assert features.cache_path(train.TrainConfig(dataset="digits", model="cnn", epochs=2),
                               split="train").name == "cnn-run-digits-train-d142e0b8dba7.nc"
    assert features.cache_path("resnet18", "digits", "test").name == "resnet18-digits-test-cc11cca0eca8.nc"


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_eval_only_through_the_sweep_equals_the_in_memory_model(tmp_path, suffix):
    net = _net("cnn", width=4)
    path = _save(net, tmp_path / f"w{suffix}")
    base = train.TrainConfig(model="mlp", epochs=0, **DIGITS)
    spec = f"cnn:width=4,weights={path}"  # the chapters' spec grammar, through the job they use
    ds = sweep.run(base, models=[spec], seeds=[0], store=tmp_path / "store", progress=False)
    logits, labels = _oracle_logits(net)
    np.testing.assert_array_equal(ds["prediction"].sel(model=spec, seed=0), logits.argmax(1))
    assert ds.sizes["epoch"] == 0
    run = train.run(sweep.configs(base, models=[spec], seeds=[0])[0])  # the per-run result: logits too
    np.testing.assert_allclose(run["logits"], logits, rtol=1e-5, atol=1e-5)
    assert run.attrs["overall_accuracy"] == pytest.approx(float((logits.argmax(1) == labels).mean()))
    assert run.attrs["weights_file"] == path and run.attrs["weights_head"] == "loaded"
    assert "checkpoint" not in run.attrs  # nothing trained, nothing written


def test_eval_job_reads_a_spec_file_like_the_train_job(tmp_path):
    net = _net("cnn", width=4)
    path = _save(net, tmp_path / "w.safetensors")
    ev = evaluate.run(evaluate.EvalConfig(dataset="digits", split="test", model="cnn",
                                          model_kwargs={"width": 4, "weights": path}, device="cpu",
                                          progress=False, profile="tiny"))  # pretrained=True (default): ignored
    np.testing.assert_allclose(ev["logits"], _oracle_logits(net)[0], rtol=1e-5, atol=1e-5)
    assert ev.attrs["weights_sha256"] == models._weights.file_sha256(path)
    with pytest.raises(ValueError, match="once"):
        evaluate.EvalConfig(dataset="digits", split="test", model="cnn", weights=path,
                            model_kwargs={"weights": path})


@pytest.mark.parametrize("same_classes", [True, False])
def test_fine_tuning_starts_from_the_file(tmp_path, monkeypatch, same_classes):
    """Weights at the optimiser's creation (before step 1) are the file's; a 1000-class RGB checkpoint saved
    from DDP (``module.`` keys, under ``state_dict``) gets its stem summed to grey and only its head
    re-initialised (as the seed initialises a model without the file)."""
    if same_classes:
        src = _net("cnn", width=4)
        path = _save(src, tmp_path / "w.safetensors")
        name, kw = "cnn", {"width": 4}
    else:
        src = _net("test_resnet", k=1000, chans=3)
        path = _save(src, tmp_path / "w.pt", lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}})
        name, kw = "test_resnet", {}
    seen = {}

    class Stop(Exception):
        pass

    def capture(model, *a, **k):
        seen.update({n: v.detach().clone() for n, v in model.state_dict().items()})
        raise Stop

    monkeypatch.setattr(train._optim, "make_optimizer", capture)
    cfg = train.TrainConfig(model=name, model_kwargs={**kw, "weights": path}, epochs=1, seed=7,
                            checkpoint_dir=str(tmp_path / "ckpt"), **DIGITS)
    with pytest.raises(Stop):
        train.run(cfg)
    file_sd = src.state_dict()
    head = {"fc.weight", "fc.bias"}
    for n, v in seen.items():
        if n in head and not same_classes:
            continue
        want = file_sd[n].sum(1, keepdim=True) if n == "conv1.0.weight" and not same_classes else file_sd[n]
        torch.testing.assert_close(v, want, rtol=0, atol=1e-6, msg=n)
    if not same_classes:
        fresh = _net(name, seed=7)  # the same seed, no file: the head a run without weights starts from
        for n in head:
            torch.testing.assert_close(seen[n], fresh.state_dict()[n], rtol=0, atol=0)
        monkeypatch.undo()
        ds = train.run(train.TrainConfig(**{**cfg.__dict__, "train_per_class": 3}))
        assert ds.attrs["weights_head"].startswith("re-initialised") and "(1000, 96)" in ds.attrs["weights_head"]
        assert "3 to 1 input channels" in ds.attrs["weights_stem"]


def test_eval_only_needs_a_fitting_head(tmp_path):
    path = _save(_net("cnn", k=5, width=4), tmp_path / "w5.safetensors")
    cfg = train.TrainConfig(model="cnn", model_kwargs={"width": 4, "weights": path}, epochs=0, **DIGITS)
    with pytest.raises(WeightsError, match=r"fc\.weight is \(5, 8\) in the file, \(10, 8\) here") as err:
        train.run(cfg)
    assert "epochs >= 1" in str(err.value)


def test_mismatch_error_names_the_keys_and_the_spec(tmp_path):
    sd = _net("cnn", width=4).state_dict()
    sd["extra.weight"] = torch.zeros(2)
    del sd["body.1.running_var"]
    sd["body.0.weight"] = torch.zeros(3, 1, 3, 3)
    path = str(tmp_path / "bad.safetensors")
    save_file({k: v.contiguous() for k, v in sd.items()}, path)
    with pytest.raises(WeightsError) as err:
        models.create("cnn", 10, 1, 8, width=4, weights=path)
    msg = str(err.value)
    assert f"'cnn:width=4,weights={path}'" in msg
    assert "1 missing key(s), in the model but not the file: body.1.running_var" in msg
    assert "1 unexpected key(s), in the file but not the model: extra.weight" in msg
    assert "body.0.weight (3, 1, 3, 3) vs (4, 1, 3, 3)" in msg
    many = {f"x{i}": torch.zeros(1) for i in range(25)}
    save_file(many, str(tmp_path / "many.safetensors"))
    with pytest.raises(WeightsError, match=r"25 unexpected key\(s\).*\(\+15 more\)"):
        models.create("cnn", 10, 1, 8, width=4, weights=str(tmp_path / "many.safetensors"))


def test_a_file_that_needs_pickle_is_refused(tmp_path):
    torch.save({"model": _net("cnn", width=4).state_dict(), "args": _Args()}, tmp_path / "pickled.pt")
    with pytest.raises(WeightsError, match="safetensors") as err:
        models.create("cnn", 10, 1, 8, width=4, weights=str(tmp_path / "pickled.pt"))
    assert "_Args" in str(err.value) and "never unpickles" in str(err.value)
    torch.save(_net("cnn", width=4), tmp_path / "module.pt")  # a whole nn.Module
    with pytest.raises(WeightsError, match="safetensors"):
        models.create("cnn", 10, 1, 8, width=4, weights=str(tmp_path / "module.pt"))


class _Args:
    pass


def test_wrappers_and_prefixes(tmp_path):
    net = _net("cnn", width=4)
    sd = net.state_dict()
    x = torch.randn(2, 1, 8, 8)
    net.eval()
    for i, wrap in enumerate([lambda s: {"model": s, "optimizer": {}, "epoch": 3},  # the train job's last.pt
                              lambda s: {"model_state_dict": {f"_orig_mod.{k}": v for k, v in s.items()}},
                              lambda s: {f"module.{k}": v for k, v in s.items()}]):
        got = models.create("cnn", 10, 1, 8, width=4, weights=_save(net, tmp_path / f"w{i}.pt", wrap)).eval()
        torch.testing.assert_close(got(x), net(x))
    torch.save({"epoch": 1, "weights": sd}, tmp_path / "odd.pt")
    with pytest.raises(WeightsError, match="'state_dict', 'model', 'model_state_dict'"):
        models.create("cnn", 10, 1, 8, width=4, weights=str(tmp_path / "odd.pt"))


def test_key_follows_content_not_path(tmp_path, monkeypatch):
    a = _save(_net("cnn", width=4), tmp_path / "a.safetensors")
    (tmp_path / "sub").mkdir()
    b = shutil.copy(a, tmp_path / "sub" / "b.safetensors")
    cfg = lambda w, **kw: train.TrainConfig(model="cnn", model_kwargs={"width": 4, "weights": w}, **DIGITS, **kw)
    plain = train.TrainConfig(model="cnn", model_kwargs={"width": 4}, **DIGITS)
    assert cfg(a).key() == cfg(b).key() != plain.key()
    assert cfg(a).key() == cfg(a, pretrained=True).key()  # weights win over pretrained
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cfg("sub/b.safetensors").key() == cfg("~/a.safetensors").key() == cfg(a).key()
    before = cfg(a).key()
    st = os.stat(a)
    _save(_net("cnn", width=4, seed=4), a)  # same size, other numbers
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert cfg(a).key() != before
    ev = lambda w: evaluate.EvalConfig(dataset="digits", split="test", model="cnn", weights=w).key()
    assert ev(b) != ev(a) and ev(b) == ev(str(shutil.copy(b, tmp_path / "c.safetensors")))
    fp = lambda w: features.cache_path("cnn", "digits", "test", model_kwargs={"width": 4, "weights": w}).name
    assert fp(b) == fp(str(tmp_path / "c.safetensors")) != fp(a)


def test_features_of_an_eval_only_run_and_of_a_weights_file(tmp_path):
    net = _net("cnn", width=4)
    path = _save(net, tmp_path / "w.safetensors")
    run = train.TrainConfig(model="cnn", model_kwargs={"width": 4, "weights": path}, epochs=0, **DIGITS)
    f_run = features.extract(run, split="test", device="cpu")
    f_file = features.extract("cnn", "digits", "test", model_kwargs={"width": 4, "weights": path}, device="cpu")
    np.testing.assert_allclose(f_run["features"], f_file["features"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(f_run["classifier_weight"], net.fc.weight.detach().numpy())
    assert path in f_file.attrs["source"]


def test_config_checks(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        train.TrainConfig(model="cnn", model_kwargs={"weights": str(tmp_path / "nope.safetensors")}, **DIGITS)
    (tmp_path / "w.npz").write_bytes(b"")
    with pytest.raises(WeightsError, match=r"\.safetensors"):
        train.TrainConfig(model="cnn", model_kwargs={"weights": str(tmp_path / "w.npz")}, **DIGITS)
    with pytest.raises(WeightsError, match="file path"):
        train.TrainConfig(model="cnn", model_kwargs={"weights": 3}, **DIGITS)
    with pytest.raises(ValueError, match="epochs"):
        train.TrainConfig(model="cnn", epochs=-1, **DIGITS)
    with pytest.raises(ValueError, match="track"):
        train.TrainConfig(model="cnn", epochs=0, track=True, **DIGITS)
    assert sweep.parse_model("resnet18:weights=~/w.pt") == ("resnet18", {"weights": "~/w.pt"})
