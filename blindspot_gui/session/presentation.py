"""How the window is being shown, as one state machine: in a window, full screen or presenting; blanked; touring; text size.

Qt-free: the window renders a :class:`PresentationState` and sends the keys here (F11, F5, Esc, B,
F1, Ctrl+= / Ctrl+−); every change is one new state, announced by ``changed(new, old)``. What a
state shows is the window's business; what follows what is decided here only, so no two parts of
the window can disagree about it (a tour panel brought back by an old layout, full screen left by
one key and kept by another).

- **window**: the user's own layout.
- **full screen** (F11): the window as it is, filling the screen; F11 again gives the window back.
- **presenting** (F5): full screen with the side panels stepped aside and the pictures large; F5
  again, Esc or View ▸ Stop presenting return to where F5 was pressed (window or full screen), as
  slide software does. F11 while presenting gives the window back.
- **blanked** (B): a black screen over any of them; B, Esc or any key lifts it.
- **touring** (F1): the tour's panel is shown in any of them, and only while touring.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from psygnal import Signal

TEXT_POINTS = (8, 32)
"""The smallest and largest text size, in points."""


class Screen(enum.Enum):
    WINDOW = "window"
    FULL_SCREEN = "full screen"
    PRESENTING = "presenting"


@dataclass(frozen=True)
class PresentationState:
    screen: Screen = Screen.WINDOW
    blanked: bool = False
    touring: bool = False
    text_points: int = 10
    before_presenting: Screen = Screen.WINDOW
    """Where F5 was pressed from: presenting ends there."""

    @property
    def full_screen(self) -> bool:
        return self.screen is not Screen.WINDOW

    @property
    def side_panels_shown(self) -> bool:
        """Whether the user's side panels may show (presenting steps them aside)."""
        return self.screen is not Screen.PRESENTING


class Presentation:
    """The presentation state of one window, changed only through its methods (each one key or menu item)."""

    changed = Signal(object, object)
    """(new PresentationState, old PresentationState), after every change."""

    def __init__(self, text_points: int = 10):
        self.state = PresentationState(text_points=_bounded(text_points))

    def _become(self, **changes) -> None:
        new = replace(self.state, **changes)
        if new != self.state:
            old, self.state = self.state, new
            self.changed.emit(new, old)

    # --- the screen ---------------------------------------------------------------------------------------------
    def toggle_full_screen(self) -> None:
        """F11: full screen from the window; the window back from full screen or presenting."""
        self._become(screen=Screen.FULL_SCREEN if self.state.screen is Screen.WINDOW else Screen.WINDOW)

    def toggle_presenting(self) -> None:
        """F5: start presenting, or stop it as slide software does."""
        if self.state.screen is Screen.PRESENTING:
            self.stop_presenting()
        else:
            self._become(screen=Screen.PRESENTING, before_presenting=self.state.screen)

    def stop_presenting(self) -> None:
        if self.state.screen is Screen.PRESENTING:
            self._become(screen=self.state.before_presenting)

    def leave_full_screen(self) -> None:
        """Back to the window from any full screen (before quitting, or Reset layout)."""
        self._become(screen=Screen.WINDOW)

    def escape(self) -> bool:
        """Esc: lift a blank screen, else stop presenting; whether it did either."""
        if self.state.blanked:
            self.lift_blank()
            return True
        if self.state.screen is Screen.PRESENTING:
            self.stop_presenting()
            return True
        return False

    # --- blank, tour, text ----------------------------------------------------------------------------------------
    def toggle_blank(self) -> None:
        self._become(blanked=not self.state.blanked)

    def lift_blank(self) -> None:
        self._become(blanked=False)

    def start_tour(self) -> None:
        self._become(touring=True)

    def leave_tour(self) -> None:
        self._become(touring=False)

    def set_text_points(self, points: int) -> None:
        self._become(text_points=_bounded(points))

    def larger_text(self) -> None:
        self.set_text_points(self.state.text_points + 1)

    def smaller_text(self) -> None:
        self.set_text_points(self.state.text_points - 1)


def _bounded(points: int) -> int:
    return min(max(int(points), TEXT_POINTS[0]), TEXT_POINTS[1])
