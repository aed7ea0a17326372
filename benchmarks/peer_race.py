"""Our blind-spot search against the best modern minimum-norm L2 attacks, on the same images in one run.

For each MNIST network (FC100-100-10, FC10(1e-4), ConvNet, FC100-100-10 (adversarial)) the first N
correctly classified test images are attacked untargeted and targeted ((y + 1) mod 10) by our fast
engine with the application's settings and by the peers of the `bench` extra: adv-lib 0.2.8 (DDN,
ALMA, FMN, FAB, SuperDeepFool, Carlini-Wagner L2) and foolbox 3.3.4 (Carlini-Wagner L2, and FMN, as
adv-lib's FMN finds nothing untargeted on these networks: its L2 step never crosses the boundary); FAB and
SuperDeepFool are untargeted only. EfficientNet-Lite0 follows on the sample photos, targeted at
"ostrich", with smaller peer budgets (``--photo-steps``), as each step is a pass through a deep network.

Every attack is judged the same way: its returned images are classified by the network in one batch;
a failure counts as distance infinity. Reported per attack: success, AttackBench's optimality, the
median L2 of its successes and the wall time per image (all images of a network in one batch for every
attack). Optimality (Cina, Rony, Pintor et al., "AttackBench", AAAI 2025): per image d* is the
smallest L2 any attack here found; with dmax = max d*, A = mean min(d, dmax) and A* = mean d*,
optimality = 1 - (A - A*) / (dmax - A*), 1 for an attack that found every image's best.

Budgets: 1000 steps where an attack has steps (C&W: 9 binary-search steps x 1000), DDN without its
default rounding to 256 levels (all attacks compared in float; 8-bit export is ours' separate step).

Install the peers: PIP_CONSTRAINT=benchmarks/bench-constraints.txt pip install ".[bench]"
Run: python benchmarks/peer_race.py [--images 100] [--networks ...] [--attacks ...] [--photo-steps 100]
     [--no-photos] [--repeat N] [--json FILE]; python benchmarks/peer_race.py --summary FILE reprints a run's summary tables.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from blindspot_gui.core.attack.search import blindspot_search, config_for
from blindspot_gui.core.images import read_image
from blindspot_gui.core.models.class_names import class_index
from blindspot_gui.core.models.registry import load_classifier
from blindspot_gui.core.photos import prepare_photo, sample_photos

from attack_speed import correctly_classified  # the same first N correctly classified test images (benchmarks/)

MNIST_NETWORKS = ("FC100-100-10", "FC10(1e-4)", "ConvNet", "FC100-100-10 (adversarial)")
PHOTO_NETWORK, PHOTO_TARGET = "EfficientNet-Lite0", "ostrich"


@dataclass(frozen=True)
class Attack:
    """One attack of the race: ``run(model, images, labels_or_targets, targeted, steps) -> adversarial images``."""

    name: str
    budget: str
    run: Callable
    targeted: bool = True
    """whether it has a targeted mode."""


def _ours(model, images, labels, targeted, steps):
    goal = labels if targeted else "none"
    results = blindspot_search(model, images, goal, None if targeted else labels, config=config_for(model))
    return torch.from_numpy(np.stack([result.adversarial for result in results]))


def _adv_lib(function_name, **fixed):
    def run(model, images, labels, targeted, steps):
        import adv_lib.attacks as attacks

        function = getattr(attacks, function_name)
        options = {key: (steps if value == "steps" else value) for key, value in fixed.items()}
        return function(model, images, labels, targeted=targeted, **options)
    return run


def _adv_lib_cw(model, images, labels, targeted, steps):
    from adv_lib.attacks import carlini_wagner_l2

    return carlini_wagner_l2(model, images, labels, targeted=targeted, binary_search_steps=9, max_iterations=steps)


def _foolbox_cw(model, images, labels, targeted, steps):
    import foolbox

    network = foolbox.PyTorchModel(model, bounds=(0, 1))
    criterion = (foolbox.criteria.TargetedMisclassification(labels) if targeted
                 else foolbox.criteria.Misclassification(labels))
    attack = foolbox.attacks.L2CarliniWagnerAttack(binary_search_steps=9, steps=steps)
    _, adversarial, _ = attack(network, images, criterion, epsilons=None)
    return adversarial


def _foolbox_fmn(model, images, labels, targeted, steps):
    import foolbox

    network = foolbox.PyTorchModel(model, bounds=(0, 1))
    criterion = (foolbox.criteria.TargetedMisclassification(labels) if targeted
                 else foolbox.criteria.Misclassification(labels))
    _, adversarial, _ = foolbox.attacks.L2FMNAttack(steps=steps)(network, images, criterion, epsilons=None)
    return adversarial


ATTACKS = (
    Attack("ours (L-BFGS, fast engine)", "the application's settings", _ours),
    Attack("adv-lib DDN", "{steps} steps, no rounding", _adv_lib("ddn", steps="steps", levels=None)),
    Attack("adv-lib ALMA", "{steps} steps", _adv_lib("alma", num_steps="steps")),
    Attack("adv-lib FMN", "{steps} steps", _adv_lib("fmn", norm=2, steps="steps")),
    Attack("adv-lib FAB", "{steps} iterations", _adv_lib("fab", norm=2, n_iter="steps"), targeted=False),
    Attack("adv-lib SuperDeepFool", "{steps} steps", _adv_lib("sdf", steps="steps"), targeted=False),
    Attack("adv-lib C&W", "9 x {steps} steps", _adv_lib_cw),
    Attack("foolbox C&W", "9 x {steps} steps", _foolbox_cw),
    Attack("foolbox FMN", "{steps} steps", _foolbox_fmn),
)


@dataclass
class Entry:
    """One attack's outcome on one network and mode."""

    attack: str
    budget: str
    distances: np.ndarray
    """(N,) L2 of each image's change; inf where the attack failed."""
    seconds: float
    optimality: float = math.nan
    extra: dict = field(default_factory=dict)

    @property
    def success(self) -> float:
        return float(np.isfinite(self.distances).mean())

    @property
    def median(self) -> float:
        found = self.distances[np.isfinite(self.distances)]
        return float(np.median(found)) if len(found) else math.inf


def optimality(entries: list[Entry]) -> int:
    """Sets each entry's AttackBench optimality; returns how many images no attack fooled (left out of the score)."""
    best = np.min(np.stack([entry.distances for entry in entries]), axis=0)
    scored = np.isfinite(best)
    best = best[scored]
    dmax, best_area = best.max(), best.mean()
    for entry in entries:
        area = np.minimum(entry.distances[scored], dmax).mean()
        entry.optimality = 1.0 if dmax == best_area else float(1 - (area - best_area) / (dmax - best_area))
    return int((~scored).sum())


def judge(model, images, adversarial, labels, targeted) -> np.ndarray:
    """L2 distance of each adversarial image, inf where it does not fool the network (or leaves the box)."""
    adversarial = adversarial.detach().float().reshape(images.shape)
    with torch.inference_mode():
        predicted = model(adversarial).argmax(1)
    fooled = predicted == labels if targeted else predicted != labels
    inside = ((adversarial >= 0) & (adversarial <= 1)).flatten(1).all(1)
    distances = (adversarial - images).flatten(1).norm(dim=1).double()
    return torch.where(fooled & inside, distances, torch.full_like(distances, math.inf)).numpy()


def race(model, images, goal, targeted, attacks, steps, repeat: int = 1) -> list[Entry]:
    """``goal``: the true labels (untargeted) or the target labels; each attack's time is its fastest of ``repeat``
    runs (every attack here is deterministic, so its images are the same each run)."""
    entries = []
    for attack in attacks:
        if targeted and not attack.targeted:
            continue
        seconds = math.inf
        for _ in range(repeat):
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                adversarial = attack.run(model, images.clone(), goal, targeted, steps)
            seconds = min(seconds, time.perf_counter() - started)
        entries.append(Entry(attack.name, attack.budget.format(steps=steps),
                             judge(model, images, adversarial, goal, targeted), seconds))
        print(f"  {attack.name}: {seconds / len(images) * 1000:.1f} ms/image", flush=True)
    return entries


def sample_photo_batch(model):
    pixels = [torch.from_numpy(prepare_photo(read_image(photo.path))) for photo in sample_photos()]
    images = torch.stack(pixels)
    with torch.inference_mode():
        return images, model(images).argmax(1)


def warm_up(model, images) -> None:
    """One forward and backward pass, so that no attack pays for the first call's allocations."""
    points = images[:2].clone().requires_grad_(True)
    model(points).sum().backward()


def print_table(title, entries, unscored, images) -> None:
    print(f"\n### {title} ({images} images{f', {unscored} fooled by none, not scored' if unscored else ''})\n")
    print("| attack | budget | success | optimality | median L2 | time per image |")
    print("|---|---|---|---|---|---|")
    for entry in sorted(entries, key=lambda entry: -entry.optimality):
        milliseconds = entry.seconds / len(entry.distances) * 1000
        time_text = f"{milliseconds:.0f} ms" if milliseconds >= 10 else f"{milliseconds:.1f} ms"
        if milliseconds >= 1000:
            time_text = f"{milliseconds / 1000:.2f} s"
        print(f"| {entry.attack} | {entry.budget} | {entry.success:.0%} | {entry.optimality:.3f} | "
              f"{entry.median:.3f} | {time_text} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--networks", nargs="*", default=list(MNIST_NETWORKS), help="MNIST networks (none: photos only)")
    parser.add_argument("--attacks", nargs="+", help="substrings of attack names (default: all)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--photo-steps", type=int, default=100)
    parser.add_argument("--no-photos", action="store_true")
    parser.add_argument("--modes", nargs="+", default=["untargeted", "targeted"])
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--repeat", type=int, default=1, help="time each attack as its fastest of this many runs")
    parser.add_argument("--summary", nargs="+", metavar="FILE", help="print the summary of runs' --json files and stop")
    args = parser.parse_args()
    if args.summary:
        print_summary([race for name in args.summary for race in json.loads(Path(name).read_text())])
        return
    attacks = [attack for attack in ATTACKS
               if not args.attacks or any(part.lower() in attack.name.lower() for part in args.attacks)]
    import adv_lib.attacks  # noqa: F401  imported before any clock starts
    import foolbox  # noqa: F401

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    report = []
    for name in args.networks:
        model = load_classifier(name)
        images, labels = correctly_classified(model, args.images)
        warm_up(model, images)
        for mode in args.modes:
            print(f"{name}, {mode}", flush=True)
            targeted = mode == "targeted"
            entries = race(model, images, (labels + 1) % 10 if targeted else labels, targeted, attacks, args.steps,
                           args.repeat)
            unscored = optimality(entries)
            print_table(f"{name}, {mode}" + (", target (y + 1) mod 10" if mode == "targeted" else ""), entries,
                        unscored, len(images))
            report.append({"network": name, "mode": mode, "entries": [_record(entry) for entry in entries]})
    if not args.no_photos:
        model = load_classifier(PHOTO_NETWORK)
        images, labels = sample_photo_batch(model)
        warm_up(model, images)
        target = torch.full_like(labels, class_index(PHOTO_TARGET, model.class_names))
        print(f"{PHOTO_NETWORK}, targeted at {PHOTO_TARGET!r}", flush=True)
        entries = race(model, images, target, True, attacks, args.photo_steps, args.repeat)
        unscored = optimality(entries)
        print_table(f"{PHOTO_NETWORK}, the {len(images)} sample photos, target {PHOTO_TARGET!r}", entries, unscored,
                    len(images))
        for entry in entries:
            found = entry.distances[np.isfinite(entry.distances)]
            rms = found / math.sqrt(images[0].numel())
            print(f"  {entry.attack}: mean RMS {rms.mean() if len(rms) else math.nan:.5f}, "
                  f"{entry.seconds / len(images):.2f} s per photo")
        report.append({"network": PHOTO_NETWORK, "mode": f"targeted {PHOTO_TARGET}",
                       "entries": [_record(entry) for entry in entries]})
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    print_summary(report)


def print_summary(report: list[dict]) -> None:
    """One table per mode: each attack's optimality and time per image on each network, with the ratios that the
    targets ask about (our time over DDN's untargeted; foolbox C&W's time over ours targeted)."""
    for mode in dict.fromkeys(race["mode"] for race in report):
        races = [race for race in report if race["mode"] == mode]
        print(f"\n### Summary, {mode}: optimality / time per image\n")
        print("| attack | " + " | ".join(race["network"] for race in races) + " |")
        print("|---|" + "---|" * len(races))
        attacks = dict.fromkeys(entry["attack"] for race in races for entry in race["entries"])
        for attack in attacks:
            cells = []
            for race in races:
                entry = next((entry for entry in race["entries"] if entry["attack"] == attack), None)
                count = len(entry["distances"]) if entry else 1
                cells.append("—" if entry is None else
                             f"{entry['optimality']:.3f} / {_duration(entry['seconds'] / count)}")
            print(f"| {attack} | " + " | ".join(cells) + " |")
        for race in races:
            print(f"{race['network']}: " + "; ".join(_ratios(race["entries"])))


def _ratios(entries) -> list[str]:
    by_name = {entry["attack"]: entry for entry in entries}
    ours = by_name[ATTACKS[0].name]
    lines = []
    for peer in ("adv-lib DDN", "foolbox C&W"):
        if peer in by_name:
            lines.append(f"time ours / {peer} {ours['seconds'] / by_name[peer]['seconds']:.2f}")
    found = [d for d in ours["distances"] if d is not None]
    if "foolbox C&W" in by_name:
        theirs = [d for d in by_name["foolbox C&W"]["distances"] if d is not None]
        lines.append(f"mean L2 ours {np.mean(found):.4f} (of {len(found)}), foolbox C&W {np.mean(theirs):.4f} "
                     f"(of {len(theirs)})")
    return lines


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    milliseconds = seconds * 1000
    return f"{milliseconds:.0f} ms" if milliseconds >= 10 else f"{milliseconds:.1f} ms"


def _record(entry: Entry) -> dict:
    return {"attack": entry.attack, "budget": entry.budget, "seconds": entry.seconds, "success": entry.success,
            "optimality": entry.optimality, "median_l2": entry.median,
            "distances": [None if not math.isfinite(d) else round(float(d), 6) for d in entry.distances]}


if __name__ == "__main__":
    main()
