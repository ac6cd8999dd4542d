"""HEBAE and planar-flow figures from sweep runs.

  python scripts/figures.py hebae_fig1 runs=outputs/multirun/hebae_fig1_epochs [out=outputs/figures/hebae_fig1.png]
  python scripts/figures.py hebae_fig2 runs=outputs/multirun/hebae_fig2 [images=2000] [out=outputs/figures/hebae_fig2.png]
  python scripts/figures.py flows runs=outputs/multirun/flow_compare [out=outputs/figures/flows.png]
  python scripts/figures.py hebae_claims runs=results/hebae [out=results/hebae/claims.md]
                            (the HEBAE paper's claims over runs/fig2, runs/fig1_epochs, runs/fig1_lambda)
  python scripts/figures.py flow_claims runs=results/flows [out=results/flows/claims.md]

A folder with no finished run is refused (exit status 1) and no figure is written.
"""
import sys
from pathlib import Path

from autovae.paper.figures import finished_runs, flow_comparison, hebae_fig1, hebae_fig2


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("hebae_fig1", "hebae_fig2", "flows", "hebae_claims", "flow_claims"):
        print(__doc__, file=sys.stderr)
        return 2
    opts = dict(a.split("=", 1) for a in argv[1:])
    kind, runs = argv[0], opts.get("runs", "outputs")
    out = Path(opts.get("out", Path("outputs") / "figures" / (f"{kind}.md" if kind.endswith("_claims") else f"{kind}.png")))
    found = finished_runs(runs)
    if not found:
        print(f"no finished runs under {runs}: nothing to plot", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == "hebae_fig1":
        path = hebae_fig1(runs, out)
    elif kind.endswith("_claims"):
        from autovae.paper.figure_claims import flow_claims_markdown, hebae_claims_markdown
        from autovae.runs.atomic import write_text_atomic

        path = out
        write_text_atomic(out, (hebae_claims_markdown if kind == "hebae_claims" else flow_claims_markdown)(runs))
    elif kind == "flows":
        path = flow_comparison(runs, out)
    else:
        from omegaconf import OmegaConf

        from autovae.data import datamodule_from

        images = None
        if any(not p.get("latent_statistics") for _, p in found):  # runs that did not record them: from weights
            dm = datamodule_from(OmegaConf.create(found[0][1]["config"]))
            dm.setup("test")
            images = dm.test_data[: int(opts.get("images", 2000))]
        path = hebae_fig2(found, out, images)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
