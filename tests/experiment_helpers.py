"""Inputs that the experiments' tests build: folders of labelled sample photos, random photo-network weights in the
torch hub cache, and a small adversarial-training spec."""

import dataclasses
import shutil

from blindspot_gui.core.models.mnist_zoo import AdversarialRecipe, find_spec
from blindspot_gui.core.photos import sample_photos

SAMPLES = {photo.path.name: photo.path for photo in sample_photos()}


def make_folder(root, layout: dict[str, list[str]]):
    """A folder with a subfolder per class name holding copies of the named sample photos."""
    for class_name, files in layout.items():
        (root / class_name).mkdir(parents=True)
        for name in files:
            shutil.copy(SAMPLES[name], root / class_name / name)
    return root


def put_random_weights_in_the_hub_cache(name: str, seed: int = 0) -> None:
    """Weights for catalogue network ``name`` where torch's hub keeps downloads: randomly initialised (seeded)."""
    import torch

    from blindspot_gui.core.models.photo_catalogue import build_architecture, find_photo_model

    entry = find_photo_model(name)
    torch.manual_seed(seed)
    entry.cache_path().parent.mkdir(parents=True, exist_ok=True)
    torch.save(build_architecture(entry.architecture).state_dict(), entry.cache_path())


def small_spec(epochs=2, layers=("input",)):
    spec = find_spec("FC100-100-10 (adversarial)")
    return dataclasses.replace(
        spec, hidden=(32, 32), recipe=dataclasses.replace(spec.recipe, epochs=epochs, learning_rate=3e-3, batch_size=20),
        adversarial=AdversarialRecipe(layers=layers, pool_size=150, refresh=100, mix=0.5, distortion_every=1,
                                      max_distortion=(1.0,) * len(layers)))
