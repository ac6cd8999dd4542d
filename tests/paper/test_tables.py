"""`make table` on a small sweep made here: three formats, paper values beside ours, bad runs skipped."""
import csv

import pytest
from conftest import markdown_row, run_cli, tiny_overrides

from autovae.paper.collect import collect_runs
from autovae.paper.tables import COLUMNS, PAPER



def test_paper_tables_are_complete():
    assert set(PAPER) == set("abcdefg")
    for table in PAPER.values():
        assert all(len(row) == len(COLUMNS) for row in table.values())


@pytest.mark.slow  # end to end; still runs in CI (deselect with -m "not slow")
def test_make_table_from_a_small_sweep(data_dir, inception_weights, tmp_path):
    common = [a for a in tiny_overrides(data_dir, tmp_path) if not a.startswith(("paths.output_dir", "callbacks"))]
    fidelity = ["callbacks=fidelity", "callbacks.progress_bar=null", "callbacks.images=null",
                "callbacks.fidelity.num_samples=8", "callbacks.fidelity.isc=false",
                f"callbacks.fidelity.feature_extractor_weights_path={inception_weights}"]
    runs = tmp_path / "multirun"
    proc = run_cli("train.py", ["-m", *common, *fidelity, "column=N_N,La_N", "seed=0,1", f"paths.log_dir={tmp_path}",
                                "sweep_name=t", "trainer.max_steps=5", "evaluation.bounds=[{alpha: 1.0, samples: 1}]"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_cli("train.py", ["-m", *common, "callbacks.progress_bar=null", "column=C_C", "model.optimizer.lr=1e12",
                                "model.nan_check_every=1", "likelihood=bernoulli", f"paths.log_dir={tmp_path}",
                                "sweep_name=t"])
    assert proc.returncode == 1, proc.stderr[-3000:]  # the multirun says that its job diverged
    corrupt = runs / "t" / "corrupt"
    (corrupt / ".hydra").mkdir(parents=True)
    (corrupt / "metrics.json").write_text('{"status": "compl')  # half-written
    (runs / "t" / "unstarted" / ".hydra").mkdir(parents=True)

    proc = run_cli("scripts/make_table.py", [f"runs={runs}"])  # five-step runs are not the paper's protocol
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "## (b)" not in (runs / "table.md").read_text()
    assert proc.stderr.count("not comparable with the paper:") == 5 and "trainer.max_steps=5" in proc.stderr
    proc = run_cli("scripts/make_table.py", [f"runs={runs}", "protocol=any"])  # a smoke test's table, labelled
    assert proc.returncode == 0, proc.stderr[-3000:]
    md = (runs / "table.md").read_text()
    assert "not comparable with the paper's" in md
    nn = markdown_row(md, "(b) L_{1,1}", "N‖N")
    assert "## (b)" in md and " ± " in nn[1] and nn[2] == "-102.50" and nn[3]  # two seeds -> mean ± std
    # the diverged C||C run says why it has no number
    assert markdown_row(md, "(b) L_{1,1}", "C‖C")[1:3] == ["failed (diverged)", "-203.40"]
    assert "failed: (b) C||C" in proc.stderr and "diverged: " in proc.stderr
    assert "corrupt" in proc.stderr and "unstarted" in proc.stderr
    assert r"\begin{tabular}" in (runs / "table.tex").read_text()
    rows = list(csv.DictReader((runs / "table.csv").open()))
    fid = [r for r in rows if r["metric"] == "fid" and r["column"] == "N||N"][0]
    assert fid["runs"] == "2" and float(fid["ours_mean"]) > 0 and float(fid["paper"]) == 42.91
    assert len(collect_runs(runs, protocol=False).records) == 5 and not collect_runs(runs).records


def test_a_spread_is_written_in_its_means_precision():
    """A bound's seed spread of 0.032 nats reads ± 0.03 beside −19.97, not ± 0.03202; a KID's spread
    keeps the four significant digits its mean needs."""
    from autovae.paper.render import Cell

    assert Cell(mean=-19.97, std=0.03202, runs=2, failed=0, paper=-19.74).ours == "-19.97 ± 0.03"
    assert Cell(mean=0.01234, std=0.001234, runs=2, failed=0, paper=None).ours == "0.01234 ± 0.001234"
    assert Cell(mean=-115.33, std=1.0412, runs=3, failed=0, paper=-102.5).ours == "-115.33 ± 1.04"
