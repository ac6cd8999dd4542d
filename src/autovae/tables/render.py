"""Renders the seed's tables: ours beside the paper's value and the difference, as Markdown, LaTeX, CSV."""
from __future__ import annotations

import csv
import io
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from autovae.results import COMPLETED
from autovae.tables.collect import Collection
from autovae.tables.paper import COLUMNS, METRICS, TABLES, paper_value

DASH = "—"


@dataclass
class Cell:
    mean: float | None  # None: no finished run; nan: every run failed
    std: float | None
    runs: int
    failed: int
    paper: float | None

    @property
    def ours(self) -> str:
        if self.runs == 0:
            return ""
        if self.mean is None or not math.isfinite(self.mean):
            return DASH
        text = _fmt(self.mean)
        return f"{text} ± {_fmt(self.std)}" if self.std is not None else text

    @property
    def diff(self) -> float | None:
        if self.paper is None or self.mean is None or not math.isfinite(self.mean):
            return None
        return self.mean - self.paper


def _fmt(x: float | None) -> str:
    if x is None:
        return DASH
    if x == 0:
        return "0"
    return f"{x:.4f}" if abs(x) < 1 else f"{x:.2f}"


def cells(collection: Collection) -> dict[tuple[str, str, str], Cell]:
    grouped: dict[tuple[str, str], list] = {}
    for rec in collection.records:
        grouped.setdefault((rec.table, rec.column), []).append(rec)
    table_cells = {}
    for (table, column), recs in grouped.items():
        done = [r for r in recs if r.status == COMPLETED]
        for metric in METRICS:
            vals = [r.values[metric] for r in done if math.isfinite(r.values[metric])]
            diverged = len(done) > len(vals) or not done
            mean = math.nan if (diverged and not vals) else (statistics.fmean(vals) if vals else None)
            std = statistics.stdev(vals) if len(vals) > 1 else None
            table_cells[(table, metric, column)] = Cell(mean, std, len(recs), len(recs) - len(done),
                                                        paper_value(table, metric, column))
    return table_cells


def _cell_text(cell: Cell | None, table: str, metric: str, column: str) -> str:
    paper = paper_value(table, metric, column)
    paper_text = DASH if paper is None else _fmt(paper)
    if cell is None or cell.runs == 0:
        return f"(paper {paper_text})"
    diff = cell.diff
    return f"{cell.ours} (paper {paper_text}" + (f", Δ {diff:+.3g})" if diff is not None else ")")


def _rows(table: str, table_cells) -> list[list[str]]:
    _, _, _, bound_label, recon_label = TABLES[table]
    labels = {"bound": bound_label, "recon": recon_label, "fid": "FID", "kid": "KID"}
    return [[labels[m], *[_cell_text(table_cells.get((table, m, c)), table, m, c) for c in COLUMNS]] for m in METRICS]


def tables_present(collection: Collection) -> list[str]:
    return sorted({r.table for r in collection.records})


def markdown(collection: Collection) -> str:
    table_cells = cells(collection)
    parts = ["# AutoVAE seed tables: ours (paper, difference)\n"]
    for t in tables_present(collection):
        header = [c.replace("||", "‖") for c in COLUMNS]  # a literal | would split the Markdown cell
        parts.append(f"\n## ({t}) {TABLES[t][0]}\n\n| metric | " + " | ".join(header) + " |\n|" + "---|" * (len(COLUMNS) + 1))
        parts += ["| " + " | ".join(row) + " |" for row in _rows(t, table_cells)]
    if collection.problems:
        parts.append("\n## Skipped run directories\n")
        parts += [f"- {p}" for p in collection.problems]
    return "\n".join(parts) + "\n"


def _tex_escape(text: str) -> str:
    return (text.replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("&", r"\&").replace("%", r"\%")
            .replace("||", r"$\|$").replace("±", r"$\pm$").replace("Δ", r"$\Delta$").replace(DASH, "---"))


def latex(collection: Collection) -> str:
    table_cells = cells(collection)
    out = []
    for t in tables_present(collection):
        out.append(f"% ({t}) {TABLES[t][0]}\n\\begin{{tabular}}{{l{'l' * len(COLUMNS)}}}\n\\hline")
        out.append(" & ".join(["metric", *map(_tex_escape, COLUMNS)]) + r" \\ \hline")
        out += [" & ".join(map(_tex_escape, row)) + r" \\" for row in _rows(t, table_cells)]
        out.append("\\hline\n\\end{tabular}\n")
    return "\n".join(out)


def csv_text(collection: Collection) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["table", "metric", "column", "ours_mean", "ours_std", "runs", "failed", "paper", "difference"])
    for (table, metric, column), cell in sorted(cells(collection).items()):
        writer.writerow([table, metric, column, cell.ours and (DASH if cell.ours == DASH else cell.mean),
                         cell.std if cell.std is not None else "", cell.runs, cell.failed,
                         "" if cell.paper is None else cell.paper, "" if cell.diff is None else cell.diff])
    return buf.getvalue()


def write_all(collection: Collection, folder: str | Path) -> list[Path]:
    from autovae.results import write_text_atomic

    folder = Path(folder)
    paths = []
    for name, text in (("table.md", markdown(collection)), ("table.tex", latex(collection)),
                       ("table.csv", csv_text(collection))):
        write_text_atomic(folder / name, text)
        paths.append(folder / name)
    return paths
