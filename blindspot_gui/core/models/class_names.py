"""Class names: ImageNet's, a user's class-names file, and finding the class a person means by a word or number."""

from __future__ import annotations

import difflib
import re

from blindspot_gui.core.data import DatasetError, parse_class_names
from blindspot_gui.core.models.weights_io import WeightsError

def imagenet_class_names() -> list[str]:
    """The 1,000 ImageNet class names, from the list shipped inside torchvision (no download)."""
    from torchvision.models import ResNet18_Weights  # only for photo networks: torchvision takes a second to import

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def read_class_names(path) -> list[str]:
    """One class name per line, as :func:`blindspot_gui.core.data.parse_class_names` reads them; a WeightsError
    naming the file and what is wrong with it otherwise."""
    try:
        return list(parse_class_names(path))
    except DatasetError as error:
        raise WeightsError(str(error)) from None



def class_index(text: str, class_names: list[str], exact: bool = False) -> int:
    """The class a person means by ``text``: its number, its exact name, or the one name with it as a word, as its
    start, or inside it (in that order of preference); with ``exact``, only its number or exact name (a label read
    from a file must not be guessed).

    An unknown or ambiguous name raises ValueError listing close matches.
    """
    wanted = text.strip().lower()
    if wanted.isdigit() and int(wanted) < len(class_names):
        return int(wanted)
    lowered = [name.lower() for name in class_names]
    named = [i for i, name in enumerate(lowered) if name == wanted]
    if len(named) > 1:  # ImageNet has two "cardigan"s: a dog (264) and a sweater (474)
        numbers = " and ".join(f"{i}" for i in named)
        raise ValueError(f"several classes are called {class_names[named[0]]!r} (numbers {numbers}); give the number")
    if named:
        return named[0]
    guesses = () if exact else ([i for i, name in enumerate(lowered) if wanted in re.split(r"[\s,'-]+", name)],
                                [i for i, name in enumerate(lowered) if name.startswith(wanted)],
                                [i for i, name in enumerate(lowered) if wanted in name])
    for matches in guesses:
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            shown = ", ".join(class_names[i] for i in matches[:6])
            raise ValueError(f"{text!r} matches several classes ({shown}{', …' if len(matches) > 6 else ''}); be more exact")
    close = difflib.get_close_matches(wanted, lowered, n=4)
    hint = f"; did you mean {', '.join(class_names[lowered.index(name)] for name in close)}?" if close else ""
    raise ValueError(f"no class called {text!r}{hint}")


