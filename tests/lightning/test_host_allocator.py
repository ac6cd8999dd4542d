"""The host allocator: glibc keeps freed tensor memory for reuse, runs record it, bad values are refused."""
import json
import subprocess
import sys
import textwrap

import pytest
from conftest import compose, tiny_overrides

from autovae.app.train import run
from autovae.errors import UnknownOptionError
from autovae.lightning import host_allocator

STEADY_STATE_FAULTS = textwrap.dedent("""
    import resource, sys, torch
    from autovae.lightning import host_allocator
    print(host_allocator.configure(sys.argv[1]), file=sys.stderr)
    passes = [torch.randn(rows, 784) for rows in (1000, 600, 1500, 333)]  # decoder passes of a bound

    def step():  # a softplus over each pass: several MiB-sized temporaries allocated and freed
        for logits in passes:
            (logits.abs().neg().exp().add(1).log() + logits.clamp(min=0)).sum(-1)

    for _ in range(20):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(100):
        step()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")
PAGES_TOUCHED = 100 * 3433 * 784 * 4 * 5 // 4096  # steps x rows x pixels x bytes x temporaries / page


@pytest.mark.skipif(host_allocator._glibc() is None, reason="the settings are glibc's; elsewhere a no-op")
def test_keep_freed_reuses_freed_tensors_instead_of_faulting_pages_in_again():
    """In a bound's steady state the temporaries must come from memory the process already has. With
    glibc's default this loop faulted in ~600,000 pages per 100 steps on this project's machine (the
    NLL's 78-90 s against 27-30 s); kept, none."""
    proc = subprocess.run([sys.executable, "-c", STEADY_STATE_FAULTS, "keep_freed"], capture_output=True,
                          text=True, check=True)
    assert "glibc keep_freed" in proc.stderr
    assert int(proc.stdout) < PAGES_TOUCHED // 100


def test_an_unknown_allocator_is_refused_with_the_valid_ones():
    with pytest.raises(UnknownOptionError, match="keep_freed, system"):
        host_allocator.configure("jemalloc")


def test_a_run_records_its_allocator_and_refuses_an_unknown_one_before_training(data_dir, tmp_path):
    result = run(compose(tiny_overrides(data_dir, tmp_path / "ok", "trainer.max_steps=2", "callbacks.images=null")))
    assert result["status"] == "completed", result.get("error")
    ran = json.loads((tmp_path / "ok" / "metrics.json").read_text())["ran"]
    assert ran["host_allocator"].startswith("glibc keep_freed" if host_allocator._glibc() else "system")
    with pytest.raises(UnknownOptionError, match="host_allocator"):
        run(compose(tiny_overrides(data_dir, tmp_path / "bad", "host_allocator=tcmalloc")))
    assert not (tmp_path / "bad" / "metrics.json").exists()
