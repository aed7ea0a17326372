"""The report writers: any experiment's result as rows of (ours, paper, difference) cells, as text or CSV.

The command line, the window and the CSV export all show a result through ``comparison_table``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from blindspot_gui.core.report import format_value


@dataclass(frozen=True)
class Cell:
    """One figure of a comparison: ours, the paper's (None where it has none), and how to write them."""

    ours: float | None
    paper: float | None = None
    unit: str = "percent"
    """"percent" (a fraction), "distortion" (an RMS) or "number"."""

    @property
    def difference(self) -> float | None:
        return None if self.ours is None or self.paper is None else self.ours - self.paper


@dataclass
class ComparisonTable:
    """A result as rows of cells, ours beside the paper's: what the window, the command line and CSV show."""

    title: str
    corner: str
    columns: list[str]
    rows: list[tuple[str, list[Cell]]]
    heat_map: bool = False
    """True when the percent cells form a matrix of error rates (Tables 2 and 4)."""
    notes: list[str] = field(default_factory=list)

    @property
    def has_paper(self) -> bool:
        """Whether any cell has the paper's figure beside ours (a photo network's Table 1 has none)."""
        return any(cell.paper is not None for _, cells in self.rows for cell in cells)


def _table1_cells(result) -> ComparisonTable:
    rows = [(row["model"], [Cell(row["train_error"], row["paper_train_error"]),
                            Cell(row["test_error"], row["paper_test_error"]),
                            Cell(row["distortion"], row["paper_distortion"], "distortion"), Cell(row["success"])])
            for row in result["rows"]]
    return ComparisonTable("Table 1: MNIST models", "model",
                           ["train error", "test error", "av. min. distortion", "attack success"], rows)


def _photo_table1_cells(result) -> ComparisonTable:
    rows = [(row["model"], [Cell(row["test_error"]), Cell(row["distortion"], unit="distortion"), Cell(row["success"])])
            for row in result["rows"]]
    table = ComparisonTable("Table 1 for a photo network", "network",
                            ["error on these photos", "av. min. distortion", "attack success"], rows)
    table.notes.append(f"{result['source']}; target rule: {result['target_rule_text']}")
    return table


def _photo_table2_cells(result) -> ComparisonTable:
    table = _matrix_cells(result, "Table 2 for photo networks")
    table.notes.append(f"{result['source']}; target rule: {result['target_rule_text']}")
    return table


def _table3_cells(result) -> ComparisonTable:
    rows = [(row["model"], [Cell(row.get("P1_error"), row["paper_P1_error"]),
                            Cell(row.get("P2_error"), row["paper_P2_error"]),
                            Cell(row["test_error"], row["paper_test_error"]),
                            Cell(row["distortion"], row["paper_distortion"], "distortion"), Cell(row["success"])])
            for row in result["rows"]]
    return ComparisonTable("Table 3: models for the cross-training-set study", "model",
                           ["error on P1", "error on P2", "test error", "min av. distortion", "attack success"], rows)


def _matrix_cells(result, title: str) -> ComparisonTable:
    rows = []
    for row in result["rows"]:
        paper = row["paper"] or [None] * len(row["errors"])
        cells = [Cell(ours, theirs) for ours, theirs in zip(row["errors"], paper)]
        rows.append((row["examples"], [*cells, Cell(row["distortion"], row["paper_distortion"], "distortion")]))
    return ComparisonTable(title, "examples \\ fed to", [*result["columns"], "av. distortion"], rows, heat_map=True)


def _table2_cells(result) -> ComparisonTable:
    return _matrix_cells(result, "Table 2: cross-model generalisation")


def _table4_cells(result) -> ComparisonTable:
    return _matrix_cells(result, "Table 4: cross-training-set generalisation")


def _table5_cells(result) -> ComparisonTable:
    rows = [(f"{row['layer']} ({row['kind']}, {row['method']})", [Cell(row["bound"], row["paper_bound"], "number")])
            for row in result["rows"]]
    if result.get("network_bound") is not None:
        rows.append(("whole network (product)", [Cell(result["network_bound"], None, "number")]))
    return ComparisonTable("Table 5: upper Lipschitz bounds", "layer", ["upper bound"], rows, notes=[result["model"]])


def _advtrain_cells(result) -> ComparisonTable:
    paper = result["paper"]
    baseline, adversarial = result["baseline"], result["adversarial"]
    rows = [(f"{baseline['model']} (weight decay only)", [Cell(baseline["test_error"], paper["baseline_test_error"]),
                                                          Cell(baseline["distortion"], None, "distortion")]),
            (f"{adversarial['model']}", [Cell(adversarial["test_error"], paper["test_error"]),
                                         Cell(adversarial["distortion"], None, "distortion")])]
    return ComparisonTable("Adversarial training (section 4.2)", "net", ["test error", "av. min. distortion"], rows,
                           notes=["paper: weight decay alone 1.6%, adversarial training below 1.2%",
                                  f"distortion: random wrong target, first {result['probe_images']} test images"])


def _noise_curve_cells(result) -> ComparisonTable:
    rows = [("blind spots (1× their own size)", [Cell(result["blind_spots_fool"]), Cell(result["mean_distortion"],
                                                                                        unit="distortion")])]
    rows += [(f"noise at {row['multiple']}× each blind spot", [Cell(row["noise_fools"]),
                                                                Cell(row["mean_noise_rms"], unit="distortion")])
             for row in result["rows"]]
    return ComparisonTable(f"How often against how much: {result['model']}", "change",
                           ["share fooled", "mean RMS"], rows,
                           notes=[f"{result['attacked']} of the first {result['n']} test images, classified correctly; "
                                  f"noise: {result['draws']} Gaussian draws per image, clipped to [0, 1]"])


def _advnoise_cells(result) -> ComparisonTable:
    stddevs = result["noise_stddevs"]
    rows = [(row["net"], [Cell(row["test_error"]), Cell(row["distortion"], unit="distortion"),
                          Cell(row["transfer_error"]), *(Cell(row["noise_error"][str(s)]) for s in stddevs)])
            for row in result["rows"]]
    columns = ["test error", "av. min. distortion", f"fooled by {result['transfer_source']}",
               *(f"error under noise {s}" for s in stddevs)]
    return ComparisonTable("Adversarial training vs noise (FC100-100-10)", "trained with", columns, rows,
                           notes=[f"σ = {result['sigma']:.4f}, {result['sigma_source']}; plain and noise nets "
                                  f"{result['epochs']} epochs, the adversarial nets' seed and recipe",
                                  f"fooled by {result['transfer_source']}: the error on the {result['transfer_examples']} "
                                  f"examples of Table 2 made for it; noise unclipped on the 10,000 test images"])


def _vote_cells(result) -> ComparisonTable:
    rows = [(f"{row['examples']} ({row['count']})", [Cell(row["network_error"]), Cell(row["vote_error"]),
                                                      Cell(row["distortion"], unit="distortion")])
            for row in result["rows"]]
    return ComparisonTable(f"A vote of jittered copies: {result['model']}", "images",
                           ["the network errs", "the vote errs", "mean RMS"], rows,
                           notes=[f"the vote: {result['window_text']}",
                                  f"{result['attacked']} of the first {result['n']} test images, classified correctly, "
                                  f"attacked (the nearest wrong class); aimed at the vote: {result['aimed_text']}, "
                                  f"found for {result['aimed_found']}"])


CELLS = {"table1": _table1_cells, "photo_table1": _photo_table1_cells, "table2": _table2_cells,
         "photo_table2": _photo_table2_cells, "table3": _table3_cells, "table4": _table4_cells, "table5": _table5_cells,
         "advtrain": _advtrain_cells, "noisecurve": _noise_curve_cells, "advnoise": _advnoise_cells,
         "vote": _vote_cells}
"""How each experiment's result becomes a ComparisonTable."""


def comparison_table(result: dict) -> ComparisonTable:
    """Any experiment's result as a ComparisonTable, with the run's settings as notes."""
    experiment = result["experiment"]
    if experiment not in CELLS:
        raise ValueError(f"unknown experiment {experiment!r}")
    table = CELLS[experiment](result)
    if "split" in result:  # tables 1 to 4
        split = "training" if result["split"] == "train" else "test"
        table.notes.append(f"{result['n']} {split} images; target rule: {result['target_rule_text']}")
    table.notes.extend(result.get("notes", []))
    return table


def table_as_text(table: ComparisonTable) -> tuple[list[str], list[list[str]]]:
    """Header and rows with cells written "ours (paper)"."""
    header = [table.corner, *table.columns]
    rows = []
    for label, cells in table.rows:
        rows.append([label, *[format_value(cell.ours, cell.unit) + ("" if cell.paper is None else
                                                                   f" ({format_value(cell.paper, cell.unit)})")
                              for cell in cells]])
    return header, rows


def table_as_csv(table: ComparisonTable) -> tuple[list[str], list[list]]:
    """Header and rows with three numeric columns per figure: ours, the paper's, the difference."""
    header = [table.corner]
    for column in table.columns:
        header += [column, f"{column} (paper)", f"{column} (difference)"]
    rows = [[label, *[value for cell in cells for value in (cell.ours, cell.paper, cell.difference)]]
            for label, cells in table.rows]
    return header, rows


def table_as_csv_text(table: ComparisonTable) -> str:
    """The table as CSV text (see :func:`table_as_csv`), as both front ends save it."""
    header, rows = table_as_csv(table)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue()
