"""The pathway command: where one blind spot's change takes hold, layer by layer, beside noise of the same size."""

from __future__ import annotations

from blindspot_gui.cli.common import EXIT_FAILURE, TerminalProgress, UsageError, cancellable, write_outputs
from blindspot_gui.cli.one_image import check_goal_choice, check_one_image, one_blind_spot
from blindspot_gui.core.files import atomic_write_json
from blindspot_gui.core.pathway import pathway


def check_pathway(args) -> None:
    """Refuse, before any work: an image the network does not read, a confidence without the confident goal, too few
    noise draws."""
    check_one_image(args, "pathway")
    check_goal_choice(args)
    if args.draws < 2:
        raise UsageError("--draws must be at least 2")


def command_pathway(args) -> int:
    """Search the blind spot of --image, then print each layer's gain for it and for noise, and the reading."""
    bar = TerminalProgress("pathway")
    monitor = cancellable(args, on_progress=bar)
    try:
        model, result, what = one_blind_spot(args, monitor.scaled(0.0, 0.8))
        if not result.success:
            print(f"{what} through {model.name}: no blind spot found for this target, so there is no change to follow")
            return EXIT_FAILURE
        found = pathway(model, result.original, result.adversarial, draws=args.draws, monitor=monitor.scaled(0.8, 1.0))
    finally:
        bar.finish()
    _print_pathway(found, model, result, what)
    record = found.to_record() | {"image": what, "goal": args.goal or "minimal", "distortion": result.distortion,
                                  "original": model.class_name(result.original_prediction),
                                  "adversarial": model.class_name(result.adversarial_prediction)}
    return write_outputs("pathway", [(args.json, lambda path: atomic_write_json(path, record), "the pathway")])


PATHWAY_COLUMNS = ("layer", "units", "gain", "step", "bound", "noise gain (10-90%)", "noise step")


def _print_pathway(found, model, result, what: str) -> None:
    print(f"{what} through {model.name}: {model.class_name(result.original_prediction)!r} became "
          f"{model.class_name(result.adversarial_prediction)!r}; change ||r|| = {found.size:.4f} (RMS "
          f"{result.distortion:.4f}); noise: {found.draws} Gaussian draws of the same L2 size")
    rows = [(layer.name, str(layer.units), f"{layer.gain:.3g}", f"{layer.step:.3g}",
             "—" if layer.bound is None else f"{layer.bound:.3g}",
             f"{layer.noise_gain:.3g} ({layer.noise_gain_low:.3g}-{layer.noise_gain_high:.3g})",
             f"{layer.noise_step:.3g}") for layer in found.layers]
    widths = [max(len(line[column]) for line in (PATHWAY_COLUMNS, *rows)) for column in range(len(PATHWAY_COLUMNS))]
    for line in (PATHWAY_COLUMNS, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    print(found.reading)
    moved = ", ".join(f"unit {unit.unit} ({unit.change:.3g} vs noise {unit.noise_change:.3g})" for unit in found.moved)
    print(f"moved most in {found.parting}: {moved}")
    if found.bound_note:
        print(f"bounds: {found.bound_note}")
    print("gain: ||phi(x + r) - phi(x)|| / ||r||; step: over the layer before's change; bound: Table 5's upper bound "
          "on the step (the layer's operator norm times the slopes since the layer before)")
