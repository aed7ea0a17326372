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
    box = QMessageBox(QMessageBox.Icon.Warning, "Run this file's code?", TRUST_QUESTION.format(name=Path(path).name),
                      parent=parent)
    trust = box.addButton("I trust it: load it", QMessageBox.ButtonRole.AcceptRole)
    refuse = box.addButton("Don't load it", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(refuse)  # Enter, or a presenter remote's click, never runs a stranger's code
    box.setEscapeButton(refuse)
    box.exec()
    return box.clickedButton() is trust
