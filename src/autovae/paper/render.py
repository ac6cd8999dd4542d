"""Renders the seed's tables: ours beside the paper's value and the difference, as Markdown, LaTeX, CSV."""
from __future__ import annotations

import csv
import io
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from autovae.paper.collect import POOLED_FILE, Collection
from autovae.paper.tables import COLUMNS, METRICS, TABLES, paper_value
from autovae.runs.record import COMPLETED

DASH = "—"
# Metrics a completed run may not have measured: FID/KID without the fidelity callback, the
# reconstruction at the posterior mean in records older than it. Missing is not failed.
OPTIONAL = ("recon_at_mean", "fid", "kid")


@dataclass
class Cell:
    mean: float | None  # None: no finished run; nan: every run failed
    std: float | None
    runs: int
    failed: int  # runs that failed or gave no finite value for this metric
    paper: float | None
    clash: int = 0  # number of differing configurations filed into this cell (0 or 1: none)
    unmeasured: int = 0  # completed runs that did not measure this metric (FID/KID without the callback)
    reasons: tuple[str, ...] = ()  # why the runs that did not complete failed ("diverged", "error")

    @property
    def ours(self) -> str:
        if self.runs == 0:
            return ""
        if self.clash > 1:
            return f"clash: {self.clash} configs" + (f", {self.failed} of {self.runs} runs failed" if self.failed else "")
        if self.mean is None or not math.isfinite(self.mean):
            return f"failed ({', '.join(self.reasons)})" if self.reasons else DASH
        text = _fmt(self.mean)
        text = f"{text} ± {_fmt(self.std, like=self.mean)}" if self.std is not None else text
        text = f"{text} [{self.failed} of {self.runs} failed]" if self.failed else text
        return f"{text} [{self.runs - self.unmeasured} of {self.runs} seeds measured]" if self.unmeasured else text

    @property
    def diff(self) -> float | None:
        if self.clash > 1 or self.paper is None or self.mean is None or not math.isfinite(self.mean):
            return None
        return self.mean - self.paper


def _fmt(x: float | None, like: float | None = None) -> str:
    """One precision rule for every cell: two decimals (nats, FID), and four significant digits below
    0.1 (KID), where two decimals would show nothing. A spread is written in its mean's precision
    (``like``): a bound's ± 0.03 nats, a KID's ± 0.0012."""
    if x is None:
        return DASH
    if x == 0:
        return "0"
    return f"{x:.4g}" if abs(x if like is None else like) < 0.1 else f"{x:.2f}"


def _by_cell(collection: Collection) -> dict[tuple[str, str], list]:
    grouped: dict[tuple[str, str], list] = {}
    for rec in collection.records:
        grouped.setdefault((rec.table, rec.column), []).append(rec)
    return grouped


def cells(collection: Collection) -> dict[tuple[str, str, str], Cell]:
    """Mean and std over the seeds of one configuration; several configurations in a cell clash."""
    table_cells = {}
    for (table, column), recs in _by_cell(collection).items():
        clash = len({r.group for r in recs})
        done = [r for r in recs if r.status == COMPLETED]
        reasons = tuple(sorted({r.failure.split(":", 1)[0] for r in recs if r.status != COMPLETED}))
        for metric in METRICS:
            vals = [r.values[metric] for r in done if math.isfinite(r.values[metric])]
            if done and not vals and all(math.isnan(r.values[metric]) for r in done) and metric in OPTIONAL:
                table_cells[(table, metric, column)] = Cell(None, None, 0, 0, paper_value(table, metric, column))
                continue  # not measured (no fidelity callback, an older record), which is not a failure
            # a completed run without an optional metric did not measure it: not a failure
            unmeasured = sum(1 for r in done if metric in OPTIONAL and math.isnan(r.values[metric]))
            mean = statistics.fmean(vals) if vals else math.nan
            std = statistics.stdev(vals) if len(vals) > 1 else None
            table_cells[(table, metric, column)] = Cell(mean, std, len(recs), len(recs) - len(vals) - unmeasured,
                                                        paper_value(table, metric, column), clash, unmeasured,
                                                        reasons)
    return table_cells


def clashes(collection: Collection) -> list[str]:
    """Cells holding runs of different configurations, with the settings in which they differ."""
    out = []
    for (table, column), recs in sorted(_by_cell(collection).items()):
        groups = {r.group: r for r in recs}
        if len(groups) < 2:
            continue
        configs = [r.config for r in groups.values()]
        keys = sorted({k for c in configs for k in c if len({repr(d.get(k)) for d in configs}) > 1})
        shown = ", ".join(f"{k}: {' / '.join(sorted({repr(c.get(k)) for c in configs}))}" for k in keys[:6])
        out.append(f"({table}) {column}: {len(groups)} configurations differ in {shown}"
                   + (f" and {len(keys) - 6} more" if len(keys) > 6 else "") + "; not averaged")
    return out


def pooled_seeds(collection: Collection) -> list[str]:
    """Cells whose seeds differ in settings the run folder pools (collect.POOLED_FILE), with the values."""
    out = []
    for (table, column), recs in sorted(_by_cell(collection).items()):
        for group in sorted({r.group for r in recs}):
            configs = [r.config for r in recs if r.group == group]
            shown = [f"{k}: {' / '.join(sorted({repr(c.get(k)) for c in configs}))}" for k in collection.pooled
                     if len({repr(c.get(k)) for c in configs}) > 1]
            if shown:
                out.append(f"({table}) {column}: {len(configs)} seeds differ in {', '.join(shown)}; averaged")
    return [f"why: {collection.pooled_why}", *out] if out else []


def failed_runs(collection: Collection) -> list[str]:
    """Every filed run that did not complete, with its reason."""
    return [f"({r.table}) {r.column}: {r.source}: {r.failure or r.status}" for r in
            sorted(collection.records, key=lambda r: (r.table, COLUMNS.index(r.column), r.source))
            if r.status != COMPLETED]


def metric_labels(table: str, samples: str = "") -> dict[str, str]:
    bound_label, recon_label = TABLES[table].bound_label, TABLES[table].recon_label
    return {"bound": bound_label, "recon": f"{recon_label} (E_q)", "recon_at_mean": f"{recon_label} (at the posterior mean)",
            "fid": f"FID{samples}", "kid": f"KID{samples}"}


def metric_frame(table: str, metric: str, table_cells) -> "pandas.DataFrame":
    """One metric of one table: a row per column of the paper (pairing), ours beside the paper's value."""
    import pandas as pd

    rows = []
    for column in COLUMNS:
        cell = table_cells.get((table, metric, column))
        paper = paper_value(table, metric, column)
        measured = cell is not None and cell.runs > 0
        rows.append({"pairing": column.replace("||", "‖"),  # a literal | would split a Markdown cell
                     "ours": cell.ours if measured else "",
                     "paper": DASH if paper is None else _fmt(paper),
                     "Δ": f"{cell.diff:+.2f}" if measured and cell.diff is not None else "",
                     "runs": str(cell.runs) if measured else "0"})
    return pd.DataFrame(rows)


def fidelity_samples(collection: Collection, table: str) -> str:
    """" (1,000 samples)" when the table's FID/KID come from that many samples: FID from fewer samples
    than the paper's 10,000 is biased upward, so only orderings compare."""
    counts = sample_counts([r.values.get("fid_samples", math.nan) for r in collection.records if r.table == table])
    return f" ({counts} samples)" if counts else ""


def sample_counts(values) -> str:
    """The distinct finite FID/KID sample counts among ``values``, as "1,000 / 10,000" ("" for none)."""
    return " / ".join(f"{n:,}" for n in sorted({int(v) for v in values if v is not None and math.isfinite(v)}))


def tables_present(collection: Collection) -> list[str]:
    return sorted({r.table for r in collection.records})


def markdown(collection: Collection) -> str:
    """Each table as one small table per metric (pairing, ours, the paper's, the difference, runs),
    narrow enough for GitHub; the lists of failed, clashing and unfiled runs after them."""
    table_cells = cells(collection)
    parts = ["# AutoVAE seed tables: ours beside the paper's\n"]
    if collection.any_protocol:
        parts.append("\n**Runs of any length are filed here (protocol=any): these numbers are not comparable "
                     "with the paper's.**\n")
    for t in tables_present(collection):
        parts.append(f"\n## ({t}) {TABLES[t].title}\n")
        for metric, label in metric_labels(t, fidelity_samples(collection, t)).items():
            parts.append(f"\n### ({t}) {label}\n\n" + metric_frame(t, metric, table_cells).to_markdown(
                index=False, disable_numparse=True, colalign=("left", "left", "right", "right", "right")))
    for title, lines in (("Failed runs", failed_runs(collection)),
                         (f"Seeds pooled across settings ({POOLED_FILE})", pooled_seeds(collection)),
                         ("Clashes: runs of different configurations in one cell", clashes(collection)),
                         ("Not comparable with the paper: runs that did not train its protocol in full",
                          collection.not_comparable),
                         ("Runs read from older records", collection.notes),
                         ("Skipped run directories and runs outside the seed tables", collection.problems)):
        if lines:
            parts.append(f"\n## {title}\n")
            parts += [f"- {line}" for line in lines]
    return "\n".join(parts) + "\n"


def _tex_escape(text: str) -> str:
    return (text.replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("&", r"\&").replace("%", r"\%")
            .replace("‖", r"$\|$").replace("||", r"$\|$").replace("±", r"$\pm$").replace("Δ", r"$\Delta$")
            .replace(DASH, "---"))


def latex(collection: Collection) -> str:
    """One booktabs tabular per metric of each table (pandas' Styler): pairing, ours, paper, Δ, runs."""
    table_cells = cells(collection)
    out = []
    for t in tables_present(collection):
        for metric, label in metric_labels(t, fidelity_samples(collection, t)).items():
            frame = metric_frame(t, metric, table_cells).map(_tex_escape)
            frame.columns = [_tex_escape(c) for c in frame.columns]
            out.append(f"% ({t}) {TABLES[t].title}: {label}\n"
                       + frame.style.hide(axis="index").to_latex(hrules=True, column_format="lllrr"))
    return "\n".join(out)


def csv_text(collection: Collection) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["table", "metric", "column", "ours_mean", "ours_std", "runs", "failed", "paper", "difference",
                     "note"])
    for (table, metric, column), cell in sorted(cells(collection).items()):
        averaged = cell.runs > 0 and cell.clash <= 1 and cell.mean is not None and math.isfinite(cell.mean)
        note = (f"clash: {cell.clash} configurations, not averaged" if cell.clash > 1
                else f"failed ({', '.join(cell.reasons)})" if cell.runs and not averaged and cell.reasons else "")
        writer.writerow([table, metric, column, cell.mean if averaged else "",
                         cell.std if averaged and cell.std is not None else "", cell.runs, cell.failed,
                         "" if cell.paper is None else cell.paper, "" if cell.diff is None else cell.diff, note])
    return buf.getvalue()


def write_all(collection: Collection, folder: str | Path, stem: str = "table") -> list[Path]:
    from autovae.runs.atomic import write_text_atomic

    folder = Path(folder)
    paths = []
    for name, text in ((f"{stem}.md", markdown(collection)), (f"{stem}.tex", latex(collection)),
                       (f"{stem}.csv", csv_text(collection))):
        write_text_atomic(folder / name, text)
        paths.append(folder / name)
    return paths
