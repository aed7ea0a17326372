"""Compare methods on one image: the paper's L-BFGS search beside FGSM, DeepFool, DDN and C&W, each with its distortion, time and picture.

Every method looks for a change of the same image that makes the network answer the target (or,
untargeted, anything but its answer on the original), inside the pixel box [0, 1]; each result is
judged the same way here, by the network's answer on the adversarial image, and measured by the
paper's distortion (RMS, ``search.distortion_measures``). The methods:

- ours: the paper's box-constrained L-BFGS with its line search over c (``blindspot_search``), with
  the settings the application uses for the network (``config_for``);
- FGSM (Goodfellow et al. 2015) at the smallest fooling step: the sign of the loss gradient is
  computed once, then the step size eps of clip(x ± eps * sign(g), 0, 1) is bracketed on a log grid
  and bisected with forward passes only (no library looks for the smallest eps, so it is written here);
- DeepFool (Moosavi-Dezfooli et al. 2016), DDN (Rony et al. 2019) and Carlini-Wagner L2 (2017) from
  foolbox 3, with the step budgets of :class:`Budgets` (smaller for photo networks, so that the
  whole comparison on EfficientNet-Lite0 takes about a minute on two CPU cores). DeepFool only
  crosses to the nearest wrong class, so it is not run for a chosen target.

With a confident goal (``confidence`` p) every method is judged by it: the network must answer the
target with probability at least p. Ours and FGSM aim at it (the search's confident goal; FGSM's
smallest step that reaches p); C&W is given the logit margin logit(p), which reaches p for two
classes and can fall short for more; DeepFool and DDN only cross the boundary and are judged as
they come (usually short of p: that is what the comparison shows).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import threading
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from blindspot_gui.core.attack.config import config_for
from blindspot_gui.core.attack.goal import Goal
from blindspot_gui.core.attack.request import SearchRequest
from blindspot_gui.core.attack.search import blindspot_search, distortion_measures, resolve_targets, validate_images
from blindspot_gui.core.models.classifier import PIXEL_BOUNDS, Classifier, as_classifier
from blindspot_gui.core.monitor import Cancelled, Monitor, ScaledMonitor

METHODS = ("ours", "fgsm", "deepfool", "ddn", "cw")
"""Every method, in the order they run and are shown: ours first, so that the others can be set beside it."""
FOOLBOX_METHODS = ("deepfool", "ddn", "cw")
NAMES = {"ours": "Ours: L-BFGS (the paper)", "fgsm": "FGSM (smallest ε)", "deepfool": "DeepFool",
         "ddn": "DDN", "cw": "C&W L2"}
EPSILON_RANGE = (1e-5, 1.0)
"""FGSM: the smallest and largest step tried (pixels in [0, 1]); 1 moves every pixel to the box's edge."""


@dataclass(frozen=True)
class Budgets:
    """How much work each well-known attack may do; ours always runs with the application's search settings."""

    fgsm_grid: int = 26
    """FGSM: step sizes tried at once, log-spaced over EPSILON_RANGE, to bracket the smallest that fools."""
    fgsm_bisections: int = 16
    """FGSM: forward passes that halve the bracket."""
    deepfool_steps: int = 50
    deepfool_candidates: int = 10
    """DeepFool: at most this many steps, each towards the nearest of the network's likeliest classes."""
    ddn_steps: int = 1000
    cw_searches: int = 9
    cw_steps: int = 1000
    """C&W: binary search steps over its constant c, each of this many Adam steps."""


DIGIT_BUDGETS = Budgets()
"""The attacks' published budgets (DDN 1000 steps, C&W 9 × 1000): a digit network's pass costs microseconds."""
PHOTO_BUDGETS = Budgets(ddn_steps=200, cw_steps=100)
"""For photo networks: each step is a pass through a deep network (~50 ms)."""


def budgets_for(model: Classifier) -> Budgets:
    """The budgets the application uses for ``model``: the published ones for digits, PHOTO_BUDGETS for photos."""
    return DIGIT_BUDGETS if model.is_digit_network else PHOTO_BUDGETS


@dataclass
class MethodResult:
    """What one method found for the image; arrays are detached CPU numpy shaped like the image (C, H, W)."""

    method: str
    """a key of METHODS."""
    name: str
    budget: str
    """the work it was allowed, in words, e.g. "9 × 1000 steps"."""
    ran: bool
    """False when it was not run (DeepFool for a chosen target, foolbox missing, cancelled before its turn)."""
    success: bool
    """the network answers the target (untargeted: anything but its answer on the original)."""
    original_prediction: int
    target: int | None
    confidence: float | None = None
    """the confident goal it was judged by (None: the network's answer)."""
    adversarial: np.ndarray | None = None
    """None when it found nothing that fools the network."""
    perturbation: np.ndarray | None = None
    prediction: int | None = None
    """the network's answer on the adversarial image (also when it answers the target short of a confident goal)."""
    probability: float = math.nan
    """the network's probability of that answer."""
    distortion: float = math.nan
    """the paper's measure: sqrt(sum r_i^2 / n), pixels in [0, 1]."""
    l2: float = math.nan
    linf: float = math.nan
    seconds: float = 0.0
    message: str = ""
    cancelled: bool = False


def compare_methods(
    model: Classifier | nn.Module,
    image,
    label: int | None = None,
    target=None,
    *,
    methods=METHODS,
    budgets: Budgets | None = None,
    seed: int = 0,
    confidence: float | None = None,
    monitor: Monitor | None = None,
) -> list[MethodResult]:
    """Attack one image with each of ``methods`` in turn; one MethodResult per method, in the order asked.

    Parameters
    ----------
    model : a Classifier (or a bare network of pixels in [0, 1] to logits, see ``as_classifier``).
    image : (C, H, W) or (1, C, H, W), pixels in [0, 1].
    label : its true label if known (used by the "next" and "random" target rules), else the network's answer.
    target : a label, a rule of ``blindspot_search`` ("next", "random", "least-likely"), or None / "none"
        for untargeted: any answer but the network's on the original.
    budgets : the attacks' budgets; default ``budgets_for(model)``.
    confidence : a confident goal p (see the module docstring); None: the network's answer is enough.
    monitor : progress (an equal share per method, messages "<name>: ..."), each finished MethodResult as a
        partial result, and cancellation, honoured inside every attack; the methods not finished are then
        returned with ``cancelled`` set.
    """
    unknown = [method for method in methods if method not in METHODS]
    if unknown or not methods:
        raise ValueError(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}" if unknown
                         else "no method to compare")
    monitor = monitor or Monitor()
    pixels = validate_images(image)
    if len(pixels) != 1:
        raise ValueError(f"compare one image at a time, not {len(pixels)}")
    model = as_classifier(model, tuple(pixels.shape[1:]))
    pixels = pixels.to(model.device)
    reference, wanted = _reference_and_target(model, pixels, label, target, seed)
    budgets = budgets or budgets_for(model)
    goal = Goal(confidence)
    results: list[MethodResult] = []
    for step, method in enumerate(methods):
        stage = _Stage(monitor, step / len(methods), (step + 1) / len(methods), NAMES[method])
        result = _run_method(method, model, pixels, label, reference, wanted, budgets, stage, goal)
        results.append(result)
        if not result.cancelled:
            monitor.partial(result)
    monitor.progress(1.0, "cancelled" if monitor.cancelled else "done")
    return results


def _reference_and_target(model: Classifier, pixels: torch.Tensor, label, target, seed: int) -> tuple[int, int | None]:
    """The network's answer on the original, and the target label (None: untargeted)."""
    with torch.inference_mode():
        probabilities = model(pixels).softmax(dim=1)
    reference = int(probabilities.argmax())
    labels = torch.tensor([reference if label is None else int(label)])
    wanted = int(resolve_targets(target, labels, probabilities.cpu(), seed)[0])
    if wanted == reference:
        raise ValueError(f"{model.name} already answers {model.class_name(wanted)!r}: nothing to compare — choose "
                         "another target")
    return reference, None if wanted < 0 else wanted


class _Stage(ScaledMonitor):
    """One method's share of the progress bar; its messages start with the method's name."""

    def __init__(self, parent: Monitor, start: float, end: float, name: str):
        super().__init__(parent, start, end, forward_partials=False)
        self.name = name

    def progress(self, fraction: float, message: str = "") -> None:
        super().progress(fraction, f"{self.name}: {message}" if message else self.name)


def _run_method(method, model, pixels, label, reference, target, budgets, stage: _Stage, goal: Goal) -> MethodResult:
    """One method, timed and judged by ``goal``; not run, failed to import, or cancelled said in its message."""
    blank = MethodResult(method=method, name=NAMES[method], budget=_budget_text(method, model, budgets, target),
                         ran=False, success=False, original_prediction=reference, target=target,
                         confidence=goal.confidence)
    if stage.cancelled:
        return _cancelled(blank)
    if method == "deepfool" and target is not None:
        blank.message = ("not run: DeepFool only crosses to the nearest wrong class, it cannot aim at a chosen one "
                         "(compare with the target “nearest wrong class” to include it)")
        return blank
    stage.progress(0.0)
    try:
        if method in FOOLBOX_METHODS:
            _foolbox()  # imported before the clock starts: the import is no part of the attack's time
        started = time.perf_counter()
        adversarial = ATTACKS[method](model, pixels, label, reference, target, budgets, stage, goal)
    except Cancelled:
        return _cancelled(blank)
    except FoolboxMissing as error:
        blank.message = f"not run: {error}"
        return blank
    seconds = time.perf_counter() - started
    stage.progress(1.0, "done")
    if stage.cancelled:  # ours returns its best so far when cancelled: not its answer
        return _cancelled(blank)
    return _judged(blank, model, pixels, adversarial, seconds)


def _cancelled(result: MethodResult) -> MethodResult:
    result.cancelled = True
    result.message = "cancelled"
    return result


def _judged(result: MethodResult, model: Classifier, pixels: torch.Tensor, adversarial: torch.Tensor | None,
            seconds: float) -> MethodResult:
    """The method's image, judged by the network's answer and measured from the original."""
    result.ran, result.seconds = True, seconds
    if adversarial is None:
        result.message = _NOTHING_FOUND.get(result.method, "did not fool the network within its budget")
        if result.confidence is not None and result.method == "fgsm":
            result.message = f"no step size up to 1 makes the network {100 * result.confidence:.0f}% sure"
        return result
    with torch.inference_mode():
        probabilities = model(adversarial.reshape(pixels.shape)).softmax(dim=1)[0]
    prediction = int(probabilities.argmax())
    fooled = prediction == result.target if result.target is not None else prediction != result.original_prediction
    if not fooled:
        result.message = _NOTHING_FOUND.get(result.method, "did not fool the network within its budget")
        return result
    if result.confidence is not None and float(probabilities[prediction]) < result.confidence:
        result.prediction, result.probability = prediction, float(probabilities[prediction])  # fooled, not sure enough
        result.message = (f"fooled it, but only {100 * result.probability:.0f}% sure — short of the "
                          f"goal p ≥ {100 * result.confidence:.0f}%")
        return result
    original = pixels[0].cpu().numpy()
    result.adversarial = adversarial.reshape(pixels.shape[1:]).detach().cpu().numpy().astype(np.float32)
    result.perturbation = result.adversarial - original
    result.distortion, result.l2, result.linf = distortion_measures(result.perturbation)
    result.success, result.prediction, result.probability = True, prediction, float(probabilities[prediction])
    return result


_NOTHING_FOUND = {"fgsm": "no step size up to 1 (every pixel at the box's edge) fools the network",
                  "ours": "the search found no change that fools the network within its limits"}


def _budget_text(method: str, model: Classifier, budgets: Budgets, target) -> str:
    if method == "ours":
        config = config_for(model)
        return f"{2 + config.bisection_rounds} strengths × ≤ {config.max_iterations} steps"
    return {"fgsm": f"1 gradient + {budgets.fgsm_grid + budgets.fgsm_bisections} forward passes",
            "deepfool": f"≤ {budgets.deepfool_steps} steps × {budgets.deepfool_candidates} classes",
            "ddn": f"{budgets.ddn_steps} steps",
            "cw": f"{budgets.cw_searches} × {budgets.cw_steps} steps"}[method]


# --- the methods: each returns its adversarial image (1, C, H, W), or None when it found none ------------
def _ours(model, pixels, label, reference, target, budgets, monitor, goal: Goal) -> torch.Tensor | None:
    """The paper's search, as the application runs it (``config_for``), for ``goal``."""
    labels = None if label is None else [int(label)]
    config = SearchRequest(confidence=goal.confidence).config(model)
    result = blindspot_search(model, pixels, "none" if target is None else target, labels,
                              config=config, monitor=monitor)[0]
    return torch.from_numpy(result.adversarial)[None].to(pixels.device) if result.success else None


def _fgsm(model, pixels, label, reference, target, budgets: Budgets, monitor: Monitor,
          goal: Goal) -> torch.Tensor | None:
    """FGSM at the smallest step that fools: one gradient, a log grid of steps at once, then bisection.

    Untargeted: up the loss of the network's answer; targeted: down the target's loss. The images
    are clip(x + eps * direction, 0, 1), (1, C, H, W); assumes a larger step fools once a smaller does.
    """
    direction = _fgsm_direction(model, pixels, reference, target)
    monitor.check()
    steps = torch.logspace(math.log10(EPSILON_RANGE[0]), math.log10(EPSILON_RANGE[1]), budgets.fgsm_grid,
                           device=pixels.device)
    fooled = _fgsm_fools(model, pixels, direction, steps, reference, target, goal)
    if not fooled.any():
        return None
    first = int(fooled.nonzero()[0])
    low, high = (0.0 if first == 0 else float(steps[first - 1])), float(steps[first])
    for halving in range(budgets.fgsm_bisections):
        monitor.check()
        monitor.progress((halving + 1) / budgets.fgsm_bisections, f"ε ≤ {high:.4g}")
        middle = (low + high) / 2
        if bool(_fgsm_fools(model, pixels, direction, torch.tensor([middle], device=pixels.device), reference,
                            target, goal)[0]):
            high = middle
        else:
            low = middle
    return _fgsm_images(pixels, direction, torch.tensor([high], device=pixels.device))


def _fgsm_direction(model, pixels, reference: int, target: int | None) -> torch.Tensor:
    """sign of the gradient of the cross-entropy: up for the answer (untargeted), down for the target."""
    with torch.enable_grad():
        point = pixels.clone().requires_grad_(True)
        label = torch.tensor([reference if target is None else target], device=pixels.device)
        loss = nn.functional.cross_entropy(model(point), label)
        gradient, = torch.autograd.grad(loss, point)
    return gradient.sign() if target is None else -gradient.sign()


def _fgsm_images(pixels, direction, steps: torch.Tensor) -> torch.Tensor:
    """clip(x + eps * direction) for each eps of ``steps``: (len(steps), C, H, W)."""
    return (pixels + steps.view(-1, 1, 1, 1) * direction).clamp(*PIXEL_BOUNDS)


def _fgsm_fools(model, pixels, direction, steps: torch.Tensor, reference: int, target: int | None,
                goal: Goal) -> torch.Tensor:
    """Whether each step's image meets ``goal`` (untargeted: for whatever it answers, if not the reference)."""
    with torch.inference_mode():
        logits = model(_fgsm_images(pixels, direction, steps))
    answers = logits.argmax(dim=1)
    if target is None:
        return (answers != reference) & goal.met(logits, answers)
    return goal.met(logits, torch.full_like(answers, target))


class FoolboxMissing(ImportError):
    """foolbox could not be imported: the rows of its attacks say so, the others still run."""


def _foolbox():
    """foolbox, imported on first use (and so only in the worker that runs a comparison)."""
    # foolbox imports GitPython, which raises ImportError at import time when no `git` executable is
    # installed, unless told to stay quiet; no git is needed by anything here.
    # GitPython reads the variable only while it is imported, so it is set for the import alone and put back.
    with _FOOLBOX_IMPORT, _environment_variable("GIT_PYTHON_REFRESH", "quiet"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # foolbox 3.3.4 imports scipy.ndimage.filters
                import foolbox
        except Exception as error:  # any failure of the library's import: its rows say why, ours still runs
            raise FoolboxMissing(f"foolbox could not be imported ({type(error).__name__}: {error}); "
                                 "install it with pip install 'foolbox>=3.3.4,<4'") from error
    return foolbox


_FOOLBOX_IMPORT = threading.Lock()
"""One import at a time, so that two workers never interleave setting and putting back the variable."""


@contextlib.contextmanager
def _environment_variable(name: str, value: str):
    """``os.environ[name]`` set to ``value`` (unless already set) inside the block, as it was after it."""
    before = os.environ.get(name)
    os.environ.setdefault(name, value)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)


class _Watched(nn.Module):
    """The network seen by foolbox: every forward pass checks for cancellation and moves the progress bar.

    foolbox's attacks are loops that never return until their budget is spent; this is how Cancel
    reaches inside them (Cancelled is raised from the pass and leaves the library's loop).
    """

    def __init__(self, model: Classifier, monitor: Monitor, passes: int):
        super().__init__()
        self.model, self.monitor, self.passes, self.done = model, monitor, max(passes, 1), 0

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        self.monitor.check()
        self.done += 1
        self.monitor.progress(self.done / self.passes, f"pass {self.done}")
        return self.model(pixels)


def _foolbox_attack(method, model, pixels, label, reference, target, budgets: Budgets, monitor: Monitor,
                    goal: Goal):
    """One of foolbox's minimum-norm attacks, with the criterion of the comparison (C&W: the goal's logit margin)."""
    foolbox = _foolbox()
    attack, passes = {
        "deepfool": lambda: (foolbox.attacks.L2DeepFoolAttack(steps=budgets.deepfool_steps,
                                                              candidates=budgets.deepfool_candidates),
                             budgets.deepfool_steps * budgets.deepfool_candidates),
        "ddn": lambda: (foolbox.attacks.DDNAttack(steps=budgets.ddn_steps), budgets.ddn_steps),
        "cw": lambda: (foolbox.attacks.L2CarliniWagnerAttack(binary_search_steps=budgets.cw_searches,
                                                             steps=budgets.cw_steps,
                                                             confidence=goal.needed_margin()),
                       budgets.cw_searches * (budgets.cw_steps + 1)),
    }[method]()
    network = foolbox.PyTorchModel(_Watched(model, monitor, passes).eval(), bounds=PIXEL_BOUNDS, device=model.device)
    device = pixels.device
    criterion = (foolbox.criteria.TargetedMisclassification(torch.tensor([target], device=device))
                 if target is not None else foolbox.criteria.Misclassification(torch.tensor([reference], device=device)))
    with torch.enable_grad():
        _, adversarial, _ = attack(network, pixels, criterion, epsilons=None)
    return adversarial


ATTACKS = {"ours": _ours, "fgsm": _fgsm} | {method: functools.partial(_foolbox_attack, method)
                                           for method in FOOLBOX_METHODS}
"""method -> function(model, pixels (1, C, H, W), label, reference answer, target or None, budgets, monitor)."""


def foolbox_version() -> str | None:
    """The installed foolbox's version, or None where it cannot be imported."""
    try:
        return _foolbox().__version__
    except FoolboxMissing:
        return None
