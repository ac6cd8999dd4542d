"""Subnormal floats: flushed to zero by default (Adam's late steps run at full speed), recorded by every
run, kept on request, and the flush changes no optimizer update."""
import json

import pytest
import torch
from conftest import compose, tiny_overrides

from autovae.app.train import run
from autovae.errors import UnknownOptionError
from autovae.lightning import denormals

SUBNORMAL = 1e-40  # below float32's smallest normal number, 1.2e-38


def subnormals_survive() -> bool:
    """On the calling thread: the mode is per thread (threads torch starts later inherit it), and in a
    test process other tests' runs have already started torch's worker threads."""
    return bool((torch.full((16,), SUBNORMAL) * 1.0 != 0).all())  # too small to be split across threads


@pytest.fixture(autouse=True)
def ieee_afterwards():
    yield
    denormals.configure("keep")


def test_a_run_flushes_subnormals_by_default_records_it_and_keeps_them_on_request(data_dir, tmp_path):
    denormals.configure("keep")
    assert subnormals_survive()
    result = run(compose(tiny_overrides(data_dir, tmp_path / "flush", "trainer.max_steps=2", "callbacks.images=null")))
    assert result["status"] == "completed", result.get("error")
    assert json.loads((tmp_path / "flush" / "metrics.json").read_text())["ran"]["denormals"] == "flush"
    assert not subnormals_survive()
    result = run(compose(tiny_overrides(data_dir, tmp_path / "keep", "trainer.max_steps=2", "callbacks.images=null",
                                        "denormals=keep")))
    assert json.loads((tmp_path / "keep" / "metrics.json").read_text())["ran"]["denormals"] == "keep"
    assert subnormals_survive()


def test_an_unknown_setting_is_refused_with_the_valid_ones_before_anything_is_written(data_dir, tmp_path):
    with pytest.raises(UnknownOptionError, match="flush, keep"):
        denormals.configure("ftz")
    with pytest.raises(UnknownOptionError, match="denormals"):
        run(compose(tiny_overrides(data_dir, tmp_path / "bad", "denormals=ftz")))
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


def test_flushing_changes_no_adam_update():
    """Fused Adam on gradients whose squares and second moments are subnormal (the state that made late
    steps slow) gives bit-identical parameters with subnormals flushed: sqrt(v) is far below eps."""
    def train(choice: str) -> list[torch.Tensor]:
        denormals.configure(choice)
        gen = torch.Generator().manual_seed(0)
        params = [torch.randn(400, 800, generator=gen).requires_grad_(), torch.randn(784, generator=gen).requires_grad_()]
        opt = torch.optim.Adam(params, lr=1e-3, fused=True)
        for step in range(20):
            for p in params:
                g = torch.randn(p.shape, generator=gen) * 1e-3
                g[: p.shape[0] // 2] *= 1e-17  # tiny gradients: squares of ~1e-40
                p.grad = g
            opt.step()
        return [p.detach().clone() for p in params]

    keep = train("keep")
    flush = train("flush")
    assert all(torch.equal(a, b) for a, b in zip(keep, flush))


def test_a_run_recorded_before_the_setting_existed_is_evaluated_as_it_ran():
    """evaluate.py applies the run's own setting; a config without the key kept subnormals."""
    from omegaconf import OmegaConf

    from autovae.app.train import _denormals

    assert _denormals(OmegaConf.create({"denormals": "flush"})) == "flush" and not subnormals_survive()
    assert _denormals(OmegaConf.create({"seed": 0})) == "keep" and subnormals_survive()
