"""What the user had chosen in the window (network, image, goal, target, tab), taken before the tour and given back."""

from __future__ import annotations

from dataclasses import dataclass

from blindspot_gui.core.attack.goal import Goal
from blindspot_gui.session.image import ImageChoice


@dataclass(frozen=True)
class UserChoices:
    network: str | None
    image: ImageChoice | None
    goal: Goal
    """The search goal: the paper's smallest change, a Confident p or a Robust share."""
    targets: dict
    """The target chosen for each set of class names (the search panel's memory)."""
    tab: int
    photo: str | None = None
    """The photo file the photo source showed (the one remembered as the last photo)."""

    @classmethod
    def of(cls, window) -> UserChoices:
        view = window.blindspots
        panel = view.search_panel
        photo = view.photo_source.choice
        path = photo.path if photo is not None else view.photo_source.remembered_path
        return cls(view.network_name, view.choice, panel.goal_choice(), panel.target_memory(),
                   window.tabs.currentIndex(), path)

    def remember(self, settings) -> None:
        """Write these choices' image and photo as the ones remembered: the window closes before an image given
        back has loaded, and what the tour showed must not be remembered as the user's."""
        if self.image is not None and self.image.index is not None:
            settings.setValue("image/index", self.image.index)
        if self.photo is not None:
            settings.setValue("photos/last", self.photo)
        else:
            settings.remove("photos/last")

    def give_back(self, window) -> None:
        """Put these choices back in ``window`` (a network that is gone since is left as it is)."""
        view = window.blindspots
        if (self.network is not None and self.network != view.network_name
                and view.network_panel.select(self.network, announce=False)):
            view.select_network(self.network)
        if self.image is not None and self.image is not view.choice:
            if self.image.index is not None:
                view.use_digit(self.image)
            elif self.image.path is not None and self.image.pixels.ndim == 3:
                view.photo_source.open_path(self.image.path)
            else:
                view.use_image(self.image)
        view.search_panel.choose_goal(self.goal)
        view.search_panel.restore_target_memory(self.targets)
        window.tabs.setCurrentIndex(self.tab)
