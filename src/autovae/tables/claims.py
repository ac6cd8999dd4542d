"""The claims a seed table makes, judged on our runs: held, not held, or not measured yet.

Each claim is a comparison between column means of one table; seed noise is shown beside it (the
standard deviation over seeds where a column has several). The rank agreement between our column
order and the paper's is Spearman's rho over the columns both have.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from scipy.stats import spearmanr

from autovae.tables.paper import COLUMNS, METRICS, paper_value
from autovae.tables.render import Cell, cells

HIGHER_IS_BETTER = {"bound": True, "recon": False, "recon_at_mean": False, "fid": False, "kid": False}


@dataclass
class Claim:
    text: str
    test: Callable[[dict[str, Cell]], tuple[bool | None, str]]


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


def at_least_as_good(a: str, b: str, tolerance: float = 0.0) -> Callable:
    def test(col):
        x, y = _mean(col, a), _mean(col, b)
        if x is None or y is None:
            return None, f"needs {_sym(a)} and {_sym(b)}"
        return x >= y - tolerance, f"{_show(col, a)} vs {_show(col, b)} (difference {x - y:+.2f})"
    return test


def far_worse(columns: list[str], than: str, by: float) -> Callable:
    def test(col):
        ref = _mean(col, than)
        have = {c: _mean(col, c) for c in columns}
        if ref is None or any(v is None for v in have.values()):
            return None, f"needs {', '.join(map(_sym, columns))} and {_sym(than)}"
        gaps = {c: ref - v for c, v in have.items()}
        return all(g > by for g in gaps.values()), "; ".join(f"{_sym(c)} {g:.1f} below {_sym(than)}"
                                                             for c, g in gaps.items())
    return test


def best_column(column: str) -> Callable:
    def test(col):
        means = {c: _mean(col, c) for c in COLUMNS}
        means = {c: v for c, v in means.items() if v is not None}
        if column not in means:
            return None, f"needs {_sym(column)}"
        best = max(means, key=means.get)
        return best == column, (f"best of {len(means)} measured columns: {_sym(best)} ({means[best]:.2f}); "
                                f"{_sym(column)} {means[column]:.2f}")
    return test


# The claims table (b)'s numbers make in the seed (bound row, higher is better).
TABLE_B_CLAIMS = [
    Claim("Mismatched Lo‖N is at least as good as N‖N (bound)", at_least_as_good("Lo||N", "N||N")),
    Claim("Mismatched La‖N is within 1.5 nats of N‖N (bound)", at_least_as_good("La||N", "N||N", 1.5)),
    Claim("E‖N, E‖La and C‖C are far worse than N‖N (more than 10 nats)",
          far_worse(["E||N", "E||La", "C||C"], "N||N", 10.0)),
    Claim("Auto is the best column (bound)", best_column("Auto")),
]


def judge(collection, table: str = "b", claims: list[Claim] = TABLE_B_CLAIMS) -> list[tuple[str, str, str]]:
    """(claim, "held" | "not held" | "not measured yet", the figures) for each claim."""
    all_cells = cells(collection)
    col = {c: all_cells[(table, "bound", c)] for c in COLUMNS if (table, "bound", c) in all_cells}
    out = []
    for claim in claims:
        verdict, figures = claim.test(col)
        out.append((claim.text, {True: "held", False: "not held", None: "not measured yet"}[verdict], figures))
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
