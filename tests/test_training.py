"""Training: interrupt + resume gives the same model; ensembles equal single runs; corrupt files are refused."""
import shutil

import pytest
import torch

from scoregap import config, results, training


def _cfgs():
    return [config.make("cpu", dataset=d, w_r=w, steps=24, dsm_batch=256, fp_batch=128, checkpoint_every=8, log_every=4)
            for d, w in (("checker", 0.0), ("blob", 1.0))]


def _params(path):
    model, _, _ = results.load_checkpoint(path)
    return [p.detach().clone() for p in model.parameters()]


def test_interrupt_and_resume_is_exact(tmp_path):
    cfgs = _cfgs()
    full = [tmp_path / "full" / f"{c.name}.pt" for c in cfgs]
    part = [tmp_path / "part" / f"{c.name}.pt" for c in cfgs]
    training.train(cfgs, full, progress=False)
    assert training.train(cfgs, part, progress=False, max_steps=13) == []  # stops at 13, state saved at 13
    assert all(training.state_path(p).exists() for p in part) and not any(p.exists() for p in part)
    training.train(cfgs, part, progress=False)
    for a, b in zip(full, part):
        for pa, pb in zip(_params(a), _params(b)):
            assert torch.equal(pa, pb)
    assert not any(training.state_path(p).exists() for p in part)  # state removed once complete
    log = (part[0].with_suffix(".csv")).read_text().splitlines()
    assert log[0].startswith("step,lr,dsm") and log[-1].startswith("24,")


def test_ensemble_matches_single_model(tmp_path):
    cfgs = _cfgs()
    ens = [tmp_path / "ens" / f"{c.name}.pt" for c in cfgs]
    one = tmp_path / "one" / f"{cfgs[1].name}.pt"
    training.train(cfgs, ens, progress=False)
    training.train([cfgs[1]], [one], progress=False)
    for pa, pb in zip(_params(ens[1]), _params(one)):
        assert torch.allclose(pa, pb, atol=1e-5, rtol=1e-4)  # batched vs plain matmul rounding only


def test_training_lowers_the_dsm_loss(tmp_path):
    from scoregap import datasets, losses
    from scoregap.models import PotentialMLP

    c = config.make("cpu", dataset="blob", w_r=0.0, steps=200, dsm_batch=2048, fp_batch=128, log_every=10, checkpoint_every=1000)
    training.train([c], [tmp_path / "m.pt"], progress=False)
    trained, _, _ = results.load_checkpoint(tmp_path / "m.pt")
    init = PotentialMLP()
    init.load_state_dict(dict(zip(trained.state_dict(), training.init_params(c))))
    x0 = datasets.get("blob").sample(50_000, seed=5)

    def loss(m):  # same 50 000-point batch for both (common random numbers)
        return losses.dsm_loss(m.score, x0, generator=torch.Generator().manual_seed(6)).item()

    assert loss(trained) < 0.9 * loss(init)


def test_corrupt_checkpoint_is_refused(tmp_path):
    cfgs = _cfgs()[:1]
    p = tmp_path / "m.pt"
    training.train(cfgs, [p], progress=False)
    results.load_checkpoint(p)
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(results.CorruptFileError, match="corrupt"):
        results.load_checkpoint(p)
    shutil.copy(p, tmp_path / "copy.pt")
    with pytest.raises(results.CorruptFileError, match="no checksum"):
        results.load_checkpoint(tmp_path / "copy.pt")


def test_checkpoint_loads_weights_only(tmp_path):
    p = tmp_path / "m.pt"
    training.train(_cfgs()[:1], [p], progress=False)
    obj = torch.load(p, weights_only=True)
    assert set(obj) == {"state_dict", "config", "summary", "record"}
    assert set(obj["state_dict"]) == {f"{l}.{k}" for l in ("input", "hidden1", "hidden2", "output") for k in ("weight", "bias")}


def test_models_trained_together_must_share_sizes(tmp_path):
    a = config.make("cpu", steps=10)
    b = config.make("cpu", steps=11)
    with pytest.raises(ValueError, match="steps"):
        training.train([a, b], [tmp_path / "a.pt", tmp_path / "b.pt"], progress=False)


def test_chunked_gradient_equals_one_pass():
    """Training accumulates the gradient over cache-sized chunks, split over CPU threads; only the summation order
    differs from one pass over the whole batch (measured ≤ 2e-7 relative in float32; tolerance 1e-5). The chunks'
    gradients are added in chunk order, so any number of threads gives bitwise the same gradient."""
    from scoregap import models, sde
    from scoregap.training import accumulate_gradients

    torch.manual_seed(0)
    nets = [models.PotentialMLP() for _ in range(3)]
    g = torch.Generator().manual_seed(1)
    n, n_c = 3000, 1100
    x0 = torch.randn(3, n, 2, generator=g)
    tt = sde.training_times(3 * n, generator=g).reshape(3, n, 1)
    xt, target = sde.sample_kernel(x0.reshape(-1, 2), tt.reshape(-1, 1), generator=g)
    inp, target = models.make_input(xt, tt.reshape(-1, 1)).reshape(3, n, 3), target.reshape(3, n, 2)
    xc = (torch.rand(2, n_c, 2, generator=g) * 7 - 3.5)
    inp_c = torch.cat([torch.rand(2, n_c, 1, generator=g) * 10 + 1e-5, xc], dim=-1)
    w = torch.tensor([0.0, 1.0, 10.0])
    grads, losses_ = [], []
    runs = [(None, 1), ((1024, 256), 1), ((1024, 256), 2), ((1024, 256), 3), ((1024, 256), 2)]
    for chunks, workers in runs:
        P = [torch.stack([a, b, c]).detach().requires_grad_(True) for a, b, c in zip(*(m.params() for m in nets))]
        dsm, fp = accumulate_gradients(P, inp, target, w, inp_c, xc, [1, 2], chunks=chunks, workers=workers)
        grads.append([p.grad.clone() for p in P if p.grad is not None])
        losses_.append((dsm, fp))
    assert torch.isnan(losses_[0][1][0]) and not torch.isnan(losses_[0][1][1:]).any()
    assert len(grads[0]) == len(P) - 1  # the output bias does not enter ∇_x φ: no gradient, as with .backward()
    for k in range(1, len(runs)):
        for a, b in zip(losses_[0], losses_[k]):
            assert torch.allclose(a, b, rtol=1e-5, equal_nan=True)
        assert len(grads[0]) == len(grads[k]) > 0
        for a, b in zip(grads[0], grads[k]):
            assert ((a - b).abs().max() / a.abs().max()).item() < 1e-5
    for k in (2, 3, 4):
        assert all(torch.equal(a, b) for a, b in zip(grads[1], grads[k]))
        assert all(torch.equal(a.nan_to_num(), b.nan_to_num()) for a, b in zip(losses_[1], losses_[k]))
