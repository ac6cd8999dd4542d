"""The seed's figures.

  python scripts/plots.py landscape [out=outputs/plots/kl_landscape.png]
  python scripts/plots.py renyi run=RUN_DIR [run=RUN_DIR ...] [samples=50] [images=500] [out=outputs/plots/renyi.png]

renyi also writes <out>.json: the orders, each run's bounds (keyed by its folder relative to the file's),
its legend entry, samples and images.
"""
import os
import sys
from pathlib import Path

import torch

from autovae.data import datamodule_from
from autovae.lightning.restore import load_model
from autovae.paper.plots import bound_vs_alpha, curve_label, plot_bound_vs_alpha, plot_kl_landscapes
from autovae.runs.atomic import write_json_atomic

PLOTS = Path(__file__).resolve().parents[1] / "outputs" / "plots"
ALPHAS = [-1.0, -0.5, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("landscape", "renyi"):
        print(__doc__, file=sys.stderr)
        return 2
    kind, pairs = argv[0], [a.split("=", 1) for a in argv[1:]]
    opts = {k: v for k, v in pairs if k != "run"}
    if kind == "landscape":
        out = plot_kl_landscapes([("normal", "normal"), ("laplace", "laplace"), ("cauchy", "cauchy")],
                                 opts.get("out", PLOTS / "kl_landscape.png"))
    else:
        samples, n = int(opts.get("samples", 50)), int(opts.get("images", 500))
        out = Path(opts.get("out", PLOTS / "renyi.png"))
        curves, runs = {}, {}
        for run_dir in [v for k, v in pairs if k == "run"]:
            model, cfg = load_model(run_dir)
            dm = datamodule_from(cfg)
            dm.setup()
            torch.manual_seed(0)
            label = curve_label(cfg, model.pairing.label, curves)
            curves[label] = bound_vs_alpha(model, dm.test_data[:n], ALPHAS, samples)
            runs[os.path.relpath(Path(run_dir).resolve(), out.resolve().parent)] = {"label": label,
                                                                                    "bounds": curves[label]}
        out = plot_bound_vs_alpha(ALPHAS, curves, out, samples)
        write_json_atomic(out.with_suffix(".json"), {"alphas": ALPHAS, "samples": samples, "images": n,
                                                     "split": "test", "runs": runs})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
