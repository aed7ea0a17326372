"""The installed Qt binding keeps Python's reference counts intact when signals are emitted.

PySide6 6.12.0 decrements the reference count of True on every signal emitted from Python; the
application emits thousands per search, so the interpreter aborts sooner or later
("bool_dealloc: deallocating True or False"). pyproject.toml excludes that release.
"""

import gc
import sys

from PySide6.QtCore import QObject, Signal


class Emitter(QObject):
    sig_plain = Signal()
    sig_value = Signal(object)


def test_emitting_signals_leaves_the_count_of_true_alone():
    emitter = Emitter()
    gc.collect()
    before = sys.getrefcount(True)
    for _ in range(500):
        emitter.sig_plain.emit()
        emitter.sig_value.emit(1)
    gc.collect()
    assert abs(sys.getrefcount(True) - before) < 50
