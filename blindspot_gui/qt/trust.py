"""Asking the user, for one file, whether a TorchScript model (a program, not just weights) may be run."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

TRUST_QUESTION = (
    "“{name}” is a TorchScript file: a program, not just weights. Loading it runs its code, which could read or "
    "change files on this computer.\n\nLoad it only if you trust where it came from. Its code is checked first, "
    "and any file or process operation in it is refused.\n\n"
    "The safe alternative: save the network's weights as a .safetensors file and load that."
)


def ask_trust(parent: QWidget, path, show_dialogs: bool = True) -> bool:
    """True only if the user explicitly chose to run this file's code (never without a dialog)."""
    if not show_dialogs:
        return False
    answer = QMessageBox.warning(parent, "Run this file's code?", TRUST_QUESTION.format(name=Path(path).name),
                                 QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel,
                                 QMessageBox.StandardButton.Cancel)
    return answer == QMessageBox.StandardButton.Open
