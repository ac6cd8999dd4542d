"""The claims a seed table makes, judged on our runs: held, not held, within seed noise, or not
measured yet.

Each claim is a comparison between column means of one table. Where both sides have two seeds or more,
a difference smaller than two standard errors (the seeds' standard deviations over the square root of
their counts) is "within seed noise", neither held nor not held; where a side has one seed its noise is
unknown and the verdict says so. The rank agreement between our column order and the paper's is
Spearman's rho over the columns both have.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Callable

from scipy.stats import spearmanr

from autovae.paper.render import Cell, cells
from autovae.paper.tables import COLUMNS, METRICS, paper_value

HIGHER_IS_BETTER = {"bound": True, "recon": False, "recon_at_mean": False, "fid": False, "kid": False}


NOISE_Z = 2.0  # standard errors of a difference within which it is seed noise (about 95%)


@dataclass
class Claim:
    text: str
    test: Callable[[dict[str, Cell]], tuple[str | None, str]]  # (verdict, or None: not measured; figures)


def _sym(column: str) -> str:
    return column.replace("||", "‖")  # a literal | would split a Markdown cell


def _mean(col: dict[str, Cell], column: str) -> float | None:
    cell = col.get(column)
    if cell is None or cell.clash > 1 or cell.mean is None or not math.isfinite(cell.mean):
        return None
    return cell.mean


def _show(col: dict[str, Cell], column: str) -> str:
    cell = col[column]
    return f"{_sym(column)} {cell.ours}"


def standard_error(col: dict[str, Cell], a: str, b: str) -> float | None:
    """Of the difference of two column means; None where a column has fewer than two seeds."""
    terms = []
    for cell in (col[a], col[b]):
        seeds = cell.runs - cell.failed - cell.unmeasured
        if cell.std is None or seeds < 2:
            return None
        terms.append(cell.std ** 2 / seeds)
    return math.sqrt(sum(terms))


def verdict(margin: float, se: float | None) -> str:
    """held where margin >= 0, not held below; within seed noise where |margin| < NOISE_Z standard errors."""
    if se is None:
        return ("held" if margin >= 0 else "not held") + " (one seed: noise unknown)"
    if abs(margin) < NOISE_Z * se:
        return "within seed noise"
    return "held" if margin >= 0 else "not held"


def _noise_text(se: float | None) -> str:
    return "" if se is None else f", {NOISE_Z:g} SE {NOISE_Z * se:.2f}"


def _mean_se(values: list[float]) -> tuple[float, float | None]:
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else None)


def compare_seeds(name_a: str, a: list[float], name_b: str, b: list[float], higher_is_better: bool,
            unit: str = "", digits: int = 2) -> tuple[str | None, str]:
    """(verdict that ``a`` is better than ``b``, its figures) from the two sides' values over seeds, for
    figures whose claims are not table cells (HEBAE, flows); None where a side is missing."""
    if not a or not b:
        return None, f"needs {name_a} and {name_b}"
    (ma, sa), (mb, sb) = _mean_se(a), _mean_se(b)
    se = math.sqrt(sa ** 2 + sb ** 2) if sa is not None and sb is not None else None
    margin = (ma - mb) if higher_is_better else (mb - ma)
    show = lambda vals: ", ".join(f"{v:.{digits}f}" for v in vals)  # noqa: E731
    noise = "" if se is None else f", {NOISE_Z:g} SE {NOISE_Z * se:.{digits}f}"
    return verdict(margin, se), (f"{name_a} {show(a)}{unit} against {name_b} {show(b)}{unit} "
                                 f"({len(a)} and {len(b)} seeds; difference of means {ma - mb:+.{digits}f}{noise})")


def at_least_as_good(a: str, b: str, tolerance: float = 0.0) -> Callable:
    def test(col):
        x, y = _mean(col, a), _mean(col, b)
        if x is None or y is None:
            return None, f"needs {_sym(a)} and {_sym(b)}"
        se = standard_error(col, a, b)
        return verdict(x - (y - tolerance), se), (f"{_show(col, a)} vs {_show(col, b)} "
                                                 f"(difference {x - y:+.2f}{_noise_text(se)})")
    return test


def far_worse(columns: list[str], than: str, by: float) -> Callable:
    def test(col):
        ref = _mean(col, than)
        have = {c: _mean(col, c) for c in columns}
        if ref is None or any(v is None for v in have.values()):
            return None, f"needs {', '.join(map(_sym, columns))} and {_sym(than)}"
        gaps = {c: ref - v for c, v in have.items()}
        margin = min(gaps.values()) - by  # gaps of tens of nats: seed noise does not decide this one
        return "held" if margin > 0 else "not held", "; ".join(f"{_sym(c)} {g:.1f} below {_sym(than)}"
                                                               for c, g in gaps.items())
    return test


def best_column(column: str, among: list[str] = COLUMNS, worst: bool = False) -> Callable:
    """``column`` is the best (or, with ``worst``, the worst) of the columns ``among``."""
    sign, word = (-1, "worst") if worst else (1, "best")

    def test(col):
        means = {c: _mean(col, c) for c in among}
        means = {c: v for c, v in means.items() if v is not None}
        if column not in means:
            return None, f"needs {_sym(column)}"
        rival = max((c for c in means if c != column), key=lambda c: sign * means[c], default=None)
        if rival is None:
            return None, f"needs a column beside {_sym(column)}"
        se = standard_error(col, column, rival)
        margin = sign * (means[column] - means[rival])
        return verdict(margin, se), (
            f"{word} other of {len(means)} measured columns: {_sym(rival)} ({means[rival]:.2f}); "
            f"{_sym(column)} {means[column]:.2f} (difference {means[column] - means[rival]:+.2f}{_noise_text(se)})")
    return test


# The claims table (b)'s numbers make in the seed (bound row, higher is better).
TABLE_B_CLAIMS = [
    Claim("Mismatched Lo‖N is at least as good as N‖N (bound)", at_least_as_good("Lo||N", "N||N")),
    Claim("Mismatched La‖N is within 1.5 nats of N‖N (bound)", at_least_as_good("La||N", "N||N", 1.5)),
    Claim("E‖N, E‖La and C‖C are far worse than N‖N (more than 10 nats)",
          far_worse(["E||N", "E||La", "C||C"], "N||N", 10.0)),
    Claim("Auto is the best column (bound)", best_column("Auto")),
]


FIXED = [c for c in COLUMNS if c != "Auto"]


def order_claims(table: str) -> list[Claim]:
    """What any table's bound row says by its order: its best fixed column, its worst column, and
    Auto best, read from the paper's own numbers (a column the paper prints as "—" takes no part)."""
    printed = {c: paper_value(table, "bound", c) for c in FIXED}
    printed = {c: v for c, v in printed.items() if v is not None}
    best, worst = max(printed, key=printed.get), min(printed, key=printed.get)
    return [Claim(f"{_sym(best)} is the best fixed column (bound)", best_column(best, FIXED)),
            Claim(f"{_sym(worst)} is the worst column (bound)", best_column(worst, FIXED, worst=True)),
            Claim("Auto is the best column (bound)", best_column("Auto"))]


def claims_of(table: str) -> list[Claim]:
    """Table (b)'s claims are the slides' own sentences; every table's order claims come with them."""
    specific = TABLE_B_CLAIMS if table == "b" else []
    return specific + [c for c in order_claims(table) if c.text not in {s.text for s in specific}]


def judge(collection, table: str = "b", claims: list[Claim] | None = None) -> list[tuple[str, str, str]]:
    """(claim, "held" | "not held" | "within seed noise" | "not measured yet", the figures) for each claim."""
    claims = claims_of(table) if claims is None else claims
    all_cells = cells(collection)
    col = {c: all_cells[(table, "bound", c)] for c in COLUMNS if (table, "bound", c) in all_cells}
    out = []
    for claim in claims:
        said, figures = claim.test(col)
        out.append((claim.text, said or "not measured yet", figures))
    return out


def rank_agreement(collection, table: str = "b") -> list[tuple[str, int, float | None]]:
    """(metric, columns compared, Spearman rho) between our column means and the paper's."""
    all_cells = cells(collection)
    out = []
    for metric in METRICS:
        pairs = [(all_cells[(table, metric, c)].mean, paper_value(table, metric, c)) for c in COLUMNS
                 if (table, metric, c) in all_cells and all_cells[(table, metric, c)].clash <= 1
                 and all_cells[(table, metric, c)].mean is not None and math.isfinite(all_cells[(table, metric, c)].mean)
                 and paper_value(table, metric, c) is not None]
        rho = float(spearmanr([p[0] for p in pairs], [p[1] for p in pairs])[0]) if len(pairs) >= 3 else None
        out.append((metric, len(pairs), rho))
    return out


def claims_markdown(collection, table: str = "b") -> str:
    lines = [f"## Claims of table ({table}), judged on these runs\n", "| claim | verdict | figures |", "|---|---|---|"]
    lines += [f"| {c} | **{v}** | {f} |" for c, v, f in judge(collection, table)]
    lines += ["", "## Rank agreement with the paper's column order (Spearman ρ)\n",
              "| metric | columns compared | ρ |", "|---|---|---|"]
    lines += [f"| {m} | {n} | {'—' if r is None else f'{r:+.2f}'} |" for m, n, r in rank_agreement(collection, table)]
    return "\n".join(lines) + "\n"
