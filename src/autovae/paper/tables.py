"""The AutoVAE seed's result tables (a)-(g), transcribed from ../shared/papers/001_*.txt.

Values are as printed, typos included (table (c) prints KID 159.8 for E||N, a repeat of its FID);
None is the seed's "—" (a failed run). Bounds are log-likelihood bounds (higher is better).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from autovae.inference import metric_names as m

COLUMNS = ["N||N", "La||N", "Lo||N", "U||N", "G||N", "E||N", "N||La", "La||La", "Lo||La", "E||La", "C||C", "U||C",
           "G||G", "Auto"]
# recon is our E_q reconstruction (one posterior sample, so recon + KL = -L_{1,1}); recon_at_mean is the
# reconstruction at the posterior mean. The paper prints one reconstruction row without saying which it
# is, so both rows are shown against it (docs/reproduction.md: at the converged setup neither fits every
# column: the posterior mean fits N||N, La||N, Lo||N and Auto, E_q fits E||N).
METRICS = ["bound", "recon", "recon_at_mean", "fid", "kid"]
# What every table's run trains in full (slides: "100 epochs"); a shorter run is not comparable.
PRINTED_PROTOCOL = {"trainer.max_epochs": 100}



@dataclass(frozen=True)
class SeedTable:
    """One of the seed's tables: what it trains (the likelihood with the constants its units assume,
    and the objective, as a run's ``ran`` record states them), the config options that train it, the
    bound it reports, and how its rows are labelled. conf/experiment/table_<id>.yaml composes these
    options (tests/paper/test_tables.py checks it); collect.py files runs by ``likelihood`` and
    ``objective``; render.py labels by ``title``, ``bound_label`` and ``recon_label``."""

    title: str
    likelihood: dict  # ran.likelihood of a run that belongs to the table
    likelihood_option: str  # conf/likelihood/<option>.yaml
    objective: dict = field(default_factory=lambda: dict(KL_OBJECTIVE))  # ran.objective
    divergence_option: str = "kl"  # conf/divergence/<option>.yaml
    bound_key: str = m.test(m.L11)  # the metrics.json key of the bound row
    bound_label: str = "L_{1,1}"
    recon_label: str = "NLL"


KL_OBJECTIVE = {"name": "kl", "beta": 1.0, "samples": 1}
TABLES = {
    # The slides leave the variance unspecified, so any fixed variance files here (runs of two variances
    # in one folder clash); their bounds fit variance 1 with its constant dropped, -1/2 sum (x - lambda)^2
    # - KL, which experiment=table_a trains (docs/tables.md, "Table (a)'s units").
    "a": SeedTable("Likelihood N(lambda, *): unspecified normal (MSE)", {"name": "FixedScaleNormal"},
                   "normal_unit_variance", recon_label="MSE"),
    "b": SeedTable("Likelihood B(lambda): Bernoulli (BCE)", {"name": "Bernoulli"}, "bernoulli", recon_label="BCE"),
    "c": SeedTable("Likelihood La(lambda, *): unspecified Laplace (MAE)", {"name": "FixedScaleLaplace", "scale": 1.0},
                   "mae", recon_label="MAE"),
    "d": SeedTable("Likelihood N(lambda, gamma^2): normal", {"name": "Normal"}, "normal"),
    "e": SeedTable("Likelihood CB(lambda): continuous Bernoulli", {"name": "ContinuousBernoulli"},
                   "continuous_bernoulli"),
    "f": SeedTable("Likelihood Be(lambda, gamma): beta", {"name": "Beta", "eps": 1e-3}, "beta"),
    "g": SeedTable("Likelihood B(lambda), Renyi alpha=0 (IWAE)", {"name": "Bernoulli"}, "bernoulli",
                   objective={"name": "renyi", "alpha": 0.0, "samples": 50}, divergence_option="iwae",
                   bound_key=m.test(m.L0_50), bound_label="L_{0,50}", recon_label="BCE"),
}


def column_option(column: str) -> str:
    """The conf/column/<option>.yaml of a printed column: "N||N" -> "N_N", "Auto" -> "auto"."""
    return "auto" if column == "Auto" else column.replace("||", "_")


_ = None
PAPER = {
    "a": {"bound": [-19.74, -20.35, -19.23, -22.47, -20.60, -39.76, -19.74, -19.42, -19.39, -34.06, -26.56, -26.33, -19.49, -19.01],
          "recon": [12.71, 12.76, 12.59, 12.84, 12.91, 20.0, 12.61, 13.00, 12.72, 16.76, 26.44, 12.84, 13.14, 12.74],
          "fid": [119.0, 119.4, 113.2, 142.6, 139.2, 126.0, 119.4, 126.9, 120.7, 223.5, 348.4, 147.2, 134.7, 126.1],
          "kid": [0.125, 0.127, 0.118, 0.138, 0.154, 0.164, 0.145, 0.133, 0.126, 0.246, 0.528, 0.142, 0.149, 0.135]},
    "b": {"bound": [-102.5, -103.9, -102.9, -105.9, -103.5, -163.6, -102.7, -103.9, -103.2, -148.1, -203.4, -108.6, -103.4, -101.6],
          "recon": [77.15, 77.01, 76.62, 76.66, 76.20, 124.4, 76.81, 78.26, 77.35, 121.6, 202.5, 76.67, 76.90, 76.30],
          "fid": [42.91, 43.50, 44.01, 42.76, 41.82, 113.27, 40.80, 41.59, 42.13, 152.6, 389.3, 42.42, 40.88, 40.19],
          "kid": [0.0369, 0.0370, 0.0378, 0.0359, 0.0349, 0.1236, 0.0347, 0.0348, 0.0360, 0.1908, 0.6302, 0.0338, 0.0344, 0.0337]},
    "c": {"bound": [-65.34, -62.34, -61.83, -64.64, -66.26, -98.29, -62.18, -62.54, -62.27, -88.07, -98.73, -76.29, -65.47, -61.08],
          "recon": [49.86, 46.71, 46.86, 46.54, 50.86, 74.10, 46.75, 48.32, 48.17, 69.11, 98.54, 44.80, 51.39, 46.54],
          "fid": [46.02, 46.91, 48.85, 46.41, 52.19, 159.8, 50.48, 48.00, 48.55, 174.2, 219.9, 102.7, 54.58, 44.02],
          "kid": [0.0343, 0.0357, 0.0375, 0.0340, 0.0428, 159.8, 0.0388, 0.0342, 0.0348, 0.1767, 0.2233, 0.0845, 0.0456, 0.0313]},
    "d": {"bound": [1888.6, 1899.2, 1774.5, 1819.8, -8000.1, 658.6, 2079.9, 1521.5, 2122.6, -30000, 177.6, 1969.7, 2399.1, 2490.4],
          "recon": [-1954.8, -1976.0, -1839.4, -1886.3, 552.1, -705.1, -2114.4, -1584.2, -2195.1, -748.3, -193.4, -2042.6, -2469.9, -2575.0],
          "fid": [170.2, 167.9, 161.5, 162.3, 294.3, 267.7, 182.0, 167.9, 172.2, 321.1, 423.4, 283.9, 87.67, 98.19],
          "kid": [0.1982, 0.1968, 0.1840, 0.1932, 0.3624, 0.3431, 0.2195, 0.2176, 0.2057, 0.7301, 0.6555, 0.3733, 0.0816, 0.0976]},
    "e": {"bound": [1838.0, 1835.4, 1837.2, 1833.2, 1838.2, 1656.3, 1840.8, 1837.4, 1838.4, 1656.3, 1355.2, 1834.8, 1838.2, 1840.8],
          "recon": [-1882.1, -1880.9, -1881.4, -1881.2, -1883.3, -1678.3, -1885.4, -1883.5, -1883.1, -1696.0, -1356.9, -1885.7, -1882.4, -1883.9],
          "fid": [61.25, 63.05, 62.21, 64.17, 57.27, 116.13, 62.28, 60.06, 59.21, 132.9, 318.1, 66.85, 52.85, 55.86],
          "kid": [0.0576, 0.0589, 0.0586, 0.0609, 0.0514, 0.1223, 0.0597, 0.0565, 0.0546, 0.1467, 0.7745, 0.0611, 0.0471, 0.0501]},
    "f": {"bound": [6970.2, 6062.9, 4136.2, 4916.3, 5362.9, _, 5450.7, 4301.3, 6258.4, 7214.3, _, 5510.9, 5866.2, 8044.7],
          "recon": [-7053.0, -6158.5, -4223.9, -5002.0, -5430.4, _, -5501.7, -4381.6, -6353.5, -7275.0, _, -5588.8, -5946.9, -8122.7],
          "fid": [136.44, 134.61, 135.23, 141.30, 103.69, _, 127.74, 134.68, 133.45, 204.28, _, 119.23, 98.15, 98.64],
          "kid": [0.1540, 0.1525, 0.1533, 0.1591, 0.1119, _, 0.1423, 0.1514, 0.1516, 0.2134, _, 0.1036, 0.1050, 0.1070]},
    "g": {"bound": [-94.08, -93.63, -93.67, -98.54, -94.44, -132.6, -94.35, -93.87, -94.04, -119.6, -98.06, -100.34, -94.28, -93.44],
          "recon": [77.04, 76.56, 76.70, 77.73, 76.55, 103.9, 77.50, 77.01, 77.45, 97.02, 78.12, 79.16, 77.10, 76.81],
          "fid": [38.18, 37.01, 37.24, 42.76, 38.13, 80.30, 41.35, 38.09, 40.29, 111.99, 35.71, 36.82, 36.99, 36.43],
          "kid": [0.0310, 0.0299, 0.0304, 0.0359, 0.0321, 0.0803, 0.0354, 0.0316, 0.0342, 0.1180, 0.0256, 0.0268, 0.0312, 0.0293]},
}


def paper_value(table: str, metric: str, column: str) -> float | None:
    printed = "recon" if metric == "recon_at_mean" else metric  # the paper's one reconstruction row
    return PAPER[table][printed][COLUMNS.index(column)]
