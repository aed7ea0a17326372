"""Which reading of the paper's "weight decay lambda" reproduces Table 1's FC10 errors?

Solves softmax regression to convergence under three readings of the penalty and prints train and
test error beside the paper's. Run: python benchmarks/weight_decay_reading.py  (about a minute)
"""

import dataclasses

from blindspot_gui.core.training.plain import train_model
from blindspot_gui.core.models.mnist_zoo import ZOO

NUM_TRAIN = 60000
READINGS = {
    "mean CE + lambda/2 ||W||^2 (ours)": 1.0,
    "mean CE + lambda ||W||^2": 2.0,
    "summed CE + lambda/2 ||W||^2": 1.0 / NUM_TRAIN,
}


def main() -> None:
    print(f"{'model':<12} {'reading':<36} {'train':>7} {'test':>7}   paper train/test")
    for spec in (spec for spec in ZOO if spec.kind == "softmax"):
        for reading, factor in READINGS.items():
            variant = dataclasses.replace(spec, weight_decay=tuple(factor * value for value in spec.weight_decay))
            errors = train_model(variant).metadata["errors"]
            print(
                f"{spec.name:<12} {reading:<36} {100 * errors['train']:6.2f}% {100 * errors['test']:6.2f}%"
                f"   {100 * spec.paper.train_error:.1f}% / {100 * spec.paper.test_error:.1f}%",
                flush=True,
            )


if __name__ == "__main__":
    main()
