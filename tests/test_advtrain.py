"""Adversarial training on a small net and a slice of MNIST: the pool, the per-layer examples, the curve, resuming."""

import pytest
import torch

from blindspot_gui.core.training import adversarial as advtrain
from blindspot_gui.core.data import load_mnist
from blindspot_gui.core.monitor import Cancelled, Monitor
from blindspot_gui.core.models.zoo_weights import load_zoo_model
from blindspot_gui.core.models.mnist_zoo import AdversarialRecipe
from experiment_helpers import small_spec


@pytest.fixture(scope="module")
def slice_of_mnist():
    return load_mnist("train").subset(range(1500))


def test_the_pool_fills_then_fresh_examples_replace_random_entries():
    pool = advtrain.Pool("input", capacity=5)
    generator = torch.Generator().manual_seed(0)
    pool.add(torch.zeros(3, 1, 2, 2), torch.zeros(3, dtype=torch.long), generator)
    assert len(pool) == 3
    pool.add(torch.ones(4, 1, 2, 2), torch.ones(4, dtype=torch.long), generator)
    assert len(pool) == 5 and int(pool.labels.sum()) == 4  # 2 filled the room, 2 replaced old entries
    assert torch.equal(pool.examples.flatten(1).mean(1), pool.labels.float())
    pool = advtrain.Pool("input", capacity=5)
    pool.add(torch.zeros(3, 1, 2, 2), torch.zeros(3, dtype=torch.long), generator)
    pool.add(torch.ones(1, 1, 2, 2), torch.ones(1, dtype=torch.long), generator)  # fits: nothing is replaced
    assert len(pool) == 4 and pool.labels.tolist() == [0, 0, 0, 1]
    examples, labels = pool.sample(7, generator)
    assert examples.shape == (7, 1, 2, 2) and labels.shape == (7,)


def test_examples_of_a_hidden_layer_are_its_activations_and_fool_the_layers_above():
    model = load_zoo_model("FC100-100-10").network  # the chain of layers, as the trainer holds it
    images, labels = load_mnist("test").images[:30], load_mnist("test").labels[:30]
    examples, kept, distortion = advtrain.make_examples(model, "sigmoid1", images, labels,
                                                        torch.Generator().manual_seed(1),
                                                        AdversarialRecipe(layers=("sigmoid1",), max_distortion=(1.0,)))
    assert examples.shape[1:] == (1, 1, 100) and len(kept) > 20 and distortion > 0
    assert examples.min() >= 0 and examples.max() <= 1
    _, upper = advtrain.split_at(model, "sigmoid1")
    with torch.no_grad():
        assert (upper(examples.flatten(1)).argmax(1) != kept).all()
    with pytest.raises(ValueError, match="no layer"):
        advtrain.split_at(model, "sigmoid9")


def test_training_reports_each_epoch_and_resumes_from_its_checkpoint(tmp_path, slice_of_mnist):
    spec = small_spec(epochs=3, layers=("input", "sigmoid2"))
    reports = []

    def stop_after_second_epoch(report):
        reports.append(report)
        if report.epoch == 2:
            monitor.cancel()

    monitor = Monitor(on_partial=stop_after_second_epoch)
    checkpoint = tmp_path / "run.pt"
    with pytest.raises(Cancelled):
        advtrain.train_adversarially(spec, monitor, data=slice_of_mnist, checkpoint=checkpoint, distortion_images=20)
    assert [report.epoch for report in reports] == [1, 2] and checkpoint.is_file()
    assert reports[1].pool["input"]["size"] > 0 and reports[1].pool["sigmoid2"]["size"] > 0
    resumed = []
    model, curve = advtrain.train_adversarially(spec, Monitor(on_partial=resumed.append), data=slice_of_mnist,
                                                checkpoint=checkpoint, distortion_images=20)
    assert [report.epoch for report in resumed] == [1, 2, 3]  # the first two replayed from the checkpoint
    assert [point.epoch for point in curve] == [1, 2, 3] and curve[1] == reports[1]
    assert all(point.distortion is not None and point.distortion > 0 for point in curve)
    assert curve[-1].test_error < 0.75 and not model.training


def test_a_damaged_checkpoint_starts_the_run_again(tmp_path, slice_of_mnist):
    checkpoint = tmp_path / "run.pt"
    checkpoint.write_bytes(b"not a checkpoint")
    _, curve = advtrain.train_adversarially(small_spec(epochs=1), data=slice_of_mnist, checkpoint=checkpoint,
                                            distortion_images=10)
    assert [point.epoch for point in curve] == [1]


@pytest.mark.parametrize("damage", ["no model", "wrong shapes", "no pools", "history of junk"])
def test_a_checkpoint_that_loads_but_does_not_fit_starts_the_run_again(tmp_path, slice_of_mnist, damage):
    spec = small_spec(epochs=1)
    checkpoint = tmp_path / "run.pt"
    state = {"model": spec.build().state_dict(), "optimizer": {}, "schedule": {}, "pools": {"input": {}},
             "generator": torch.Generator().get_state(), "history": [], "epoch": 1}
    if damage == "no model":
        del state["model"]
    elif damage == "wrong shapes":
        state["model"] = {name: tensor[..., :1] for name, tensor in state["model"].items()}
    elif damage == "no pools":
        del state["pools"]
    else:
        state["history"] = [{"epoch": "x", "surprise": 1}]
    torch.save(state, checkpoint)
    messages = []
    _, curve = advtrain.train_adversarially(spec, Monitor(on_progress=lambda _, message: messages.append(message)),
                                            data=slice_of_mnist, checkpoint=checkpoint, distortion_images=10)
    assert [point.epoch for point in curve] == [1]
    assert any("does not fit this run" in message for message in messages)
