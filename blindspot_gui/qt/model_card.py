"""The model card: what a zoo model is, how it was trained, and its errors beside the paper's."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QTextBrowser

from blindspot_gui.core.weights import ModelStatus

PARTS = (("train", "Training set"), ("test", "Test set"), ("P1", "Half P1"), ("P2", "Half P2"))


def _percent(fraction) -> str:
    return "—" if fraction is None else f"{100 * fraction:.2f}%"


def model_card_html(status: ModelStatus) -> str:
    """An HTML summary of ``status``: description, training, and measured against paper errors."""
    spec = status.spec
    record = status.metadata or {}
    errors = record.get("errors", {})
    paper = {"train": spec.paper.train_error, "test": spec.paper.test_error,
             "P1": spec.paper.p1_error, "P2": spec.paper.p2_error}
    rows = "".join(
        f"<tr><td>{label}</td><td align='right'>{_percent(errors.get(part))}</td>"
        f"<td align='right'>{_percent(paper[part])}</td></tr>"
        for part, label in PARTS
        if errors.get(part) is not None or paper[part] is not None
    )
    decay = ", ".join(f"{value:g}" for value in spec.weight_decay)
    if status.available:
        trained = (f"Trained on {record.get('training_images', '?')} images ({spec.training_data}) in "
                   f"{record.get('wall_time_s', '?')} s; seed {record.get('seed', '?')}.")
        weights = f"Weights: {html.escape(str(status.weights_path))}"
    else:
        trained = "Not trained yet."
        weights = f"Weights missing: run <code>blindspot train {spec.key}</code>."
    return (
        f"<h2>{html.escape(spec.name)}</h2>"
        f"<p>{html.escape(spec.description)}. Weight decay λ per layer: {decay}.</p>"
        f"<table cellpadding='6'><tr><th align='left'>Error on</th><th align='right'>ours</th>"
        f"<th align='right'>paper</th></tr>{rows}</table>"
        f"<p>{trained}</p><p><small>{weights}</small></p>"
    )


class ModelCard(QTextBrowser):
    """Read-only view of one model's card."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("model_card")
        self.setOpenExternalLinks(False)

    def show_status(self, status: ModelStatus) -> None:
        self.setHtml(model_card_html(status))
