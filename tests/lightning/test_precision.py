"""The default precision: bf16-mixed where the hardware has fast bf16, fp32 elsewhere, and recorded."""
import json

import pytest
from conftest import compose, tiny_overrides

from autovae.app.train import run
from autovae.lightning import precision


@pytest.mark.parametrize("flags,expected", [(("avx512_bf16",), "bf16-mixed"), (("amx_bf16",), "bf16-mixed"),
                                            ((), "32-true")])
def test_cpu_precision_follows_its_bf16_instructions(monkeypatch, flags, expected):
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: flags)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert precision.fast_precision("cpu") == expected
    assert precision.fast_precision("auto") == expected


def test_the_precision_is_recorded_and_one_override_away(data_dir, tmp_path):
    default = precision.fast_precision("cpu")
    for name, extra in (("default", []), ("exact", ["trainer.precision=32-true"])):
        out = tmp_path / name
        result = run(compose(tiny_overrides(data_dir, out, "trainer.max_steps=2", "callbacks.images=null", *extra)))
        assert result["status"] == "completed", result.get("error")
        ran = json.loads((out / "metrics.json").read_text())["ran"]
        assert ran["precision"] == (default if name == "default" else "32-true")
        assert ran["split"]["validation"] == "held_out_of_train"
