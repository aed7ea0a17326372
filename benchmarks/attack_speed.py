"""Blind-spot search against its peers on the same images, in one run: success, distortion, time per image.

Attacks the first N correctly classified MNIST test images of the shipped FC100-100-10 with our
fast and reference engines and with foolbox 3.3.4 (Carlini-Wagner L2 with 9 x 1000 steps, DeepFool
L2, FMN L2) and advertorch 0.2.3 (L-BFGS), for target (y + 1) mod 10 and untargeted, and prints
success rate, mean and median RMS distortion, time per image and the time ratio of each peer to
our fast engine. The peers come from the `bench` extra:
PIP_CONSTRAINT=benchmarks/bench-constraints.txt pip install ".[bench]".

Run: python benchmarks/attack_speed.py [--images 100] [--skip-reference] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from blindspot_gui.api import load_mnist, load_model
from blindspot_gui.core.attack.search import blindspot_search


def correctly_classified(model, count):
    images, labels = load_mnist("test")
    with torch.inference_mode():
        correct = model(images).argmax(1) == labels
    chosen = torch.nonzero(correct).flatten()[:count]
    return images[chosen], labels[chosen]


def summarise(name, mode, originals, adversarials, success, seconds):
    distortion = np.sqrt(((adversarials - originals).reshape(len(originals), -1) ** 2).mean(axis=1))
    successful = distortion[success]
    return {
        "attack": name, "mode": mode, "success": float(success.mean()),
        "mean": float(successful.mean()) if len(successful) else float("nan"),
        "median": float(np.median(successful)) if len(successful) else float("nan"),
        "ms_per_image": 1000 * seconds / len(originals),
    }


def run_ours(model, images, labels, mode, engine):
    started = time.perf_counter()
    results = blindspot_search(model, images, "next" if mode == "next" else "none", labels, engine=engine)
    seconds = time.perf_counter() - started
    adversarial = np.stack([r.adversarial for r in results])
    success = np.array([r.success for r in results])
    return summarise(f"blindspot_gui {engine}", mode, images.numpy(), adversarial, success, seconds)


def run_foolbox(model, images, labels, mode):
    import foolbox as fb

    network = fb.PyTorchModel(model, bounds=(0, 1))
    attacks = {
        "foolbox L2CarliniWagner 9x1000": fb.attacks.L2CarliniWagnerAttack(binary_search_steps=9, steps=1000),
        "foolbox L2DeepFool": fb.attacks.L2DeepFoolAttack(),
        "foolbox L2FMN": fb.attacks.L2FMNAttack(),
    }
    rows = []
    for name, attack in attacks.items():
        if mode == "next":
            if "CarliniWagner" not in name:
                continue  # DeepFool and FMN are untargeted attacks
            criterion = fb.criteria.TargetedMisclassification((labels + 1) % 10)
        else:
            criterion = fb.criteria.Misclassification(labels)
        started = time.perf_counter()
        _, adversarial, success = attack(network, images, criterion, epsilons=None)
        seconds = time.perf_counter() - started
        rows.append(summarise(name, mode, images.numpy(), adversarial.numpy(), success.numpy(), seconds))
    return rows


def run_advertorch(model, images, labels):
    # advertorch 0.2.3 imports zero_gradients, which torch 2 removed (see the reference notes).
    import torch.autograd.gradcheck  # noqa: F401

    sys.modules["torch.autograd.gradcheck"].zero_gradients = lambda x: None
    from advertorch.attacks import LBFGSAttack

    attack = LBFGSAttack(model, num_classes=10, targeted=True)
    started = time.perf_counter()
    adversarial = attack.perturb(images, (labels + 1) % 10)
    seconds = time.perf_counter() - started
    with torch.inference_mode():
        success = (model(adversarial).argmax(1) == (labels + 1) % 10).numpy()
    return summarise("advertorch LBFGSAttack", "next", images.numpy(), adversarial.numpy(), success, seconds)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--model", default="FC100-100-10")
    parser.add_argument("--skip-reference", action="store_true", help="leave out our (slow) reference engine")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = load_model(args.model)
    images, labels = correctly_classified(model, args.images)
    print(f"{len(images)} correctly classified test images, model {args.model}, {torch.get_num_threads()} threads")
    rows = []
    for mode in ("next", "untargeted"):
        rows.append(run_ours(model, images, labels, mode, "fast"))
        print(rows[-1], flush=True)
        if not args.skip_reference:
            rows.append(run_ours(model, images, labels, mode, "reference"))
            print(rows[-1], flush=True)
        if not args.skip_peers:
            rows.extend(run_foolbox(model, images, labels, mode))
            if mode == "next":
                rows.append(run_advertorch(model, images, labels))
            print(rows[-1], flush=True)
    fast = {row["mode"]: row["ms_per_image"] for row in rows if row["attack"] == "blindspot_gui fast"}
    print("\n| attack | mode | success | mean RMS | median RMS | time per image | time / our fast |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        ratio = row["ms_per_image"] / fast[row["mode"]]
        print(f"| {row['attack']} | {row['mode']} | {100 * row['success']:.0f}% | {row['mean']:.4f} | "
              f"{row['median']:.4f} | {row['ms_per_image']:.1f} ms | {ratio:.1f}x |")
    if args.json:
        with open(args.json, "w") as stream:
            json.dump(rows, stream, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
