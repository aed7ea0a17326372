"""The unit explorer's speed and the paper's section-3 claim in numbers.

For every zoo model and every explorable layer: time to capture phi(x) for the 10,000 MNIST test
images (the activation cache), time to rank them along a new random direction (what the grid does
on "new random direction"), and the mean label purity of the top 8 images of 50 units against 50
random directions. Run: python benchmarks/units_speed.py [--models conv fc100-100-10 ...]
"""

import argparse
import time

from blindspot_gui.api import load_model
from blindspot_gui.core.data import load_mnist
from blindspot_gui.core.units import capture_activations, layer_names, purity_comparison, random_direction, top_images
from blindspot_gui.core.models.mnist_zoo import ZOO


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=[spec.key for spec in ZOO])
    args = parser.parse_args()
    data = load_mnist("test")
    print("| model | layer | dimensions | capture 10,000 images | new direction | purity: units | purity: random |")
    print("|---|---|---|---|---|---|---|")
    slowest_capture = slowest_direction = 0.0
    for name in args.models:
        model = load_model(name)
        for layer in layer_names(model):
            started = time.perf_counter()
            activations = capture_activations(model, data, layer)
            capture = time.perf_counter() - started
            started = time.perf_counter()
            top_images(activations, random_direction(activations.dimension, 12345), 8)
            direction = time.perf_counter() - started
            purity = purity_comparison(activations, count=50, k=8)
            slowest_capture, slowest_direction = max(slowest_capture, capture), max(slowest_direction, direction)
            print(f"| {name} | {layer} | {activations.dimension} | {capture:.2f} s | {1000 * direction:.1f} ms | "
                  f"{100 * purity['unit_purity']:.0f}% | {100 * purity['random_purity']:.0f}% |", flush=True)
    print(f"\nslowest capture {slowest_capture:.2f} s (target 3 s); slowest new direction "
          f"{1000 * slowest_direction:.1f} ms (target 100 ms)")


if __name__ == "__main__":
    main()
