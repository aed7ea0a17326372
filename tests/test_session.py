"""The Blind spots session model without a window: what a change makes stale, and the one search policy."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from blindspot_gui.core.attack.goal import Goal
from blindspot_gui.core.attack.config import config_for
from blindspot_gui.core.attack.request import SearchRequest, search_chain
from blindspot_gui.core.attack.search import blindspot_search
from blindspot_gui.core.data import load_mnist
from blindspot_gui.session.blindspots import BlindspotSession
from blindspot_gui.session.image import ImageChoice


@pytest.fixture(scope="module")
def digits():
    test = load_mnist("test")
    return [ImageChoice(test.images[index, 0].numpy(), int(test.labels[index]), f"test {index}", index)
            for index in range(3)]


def _run(session: BlindspotSession, planned: SearchRequest):
    """What the window's worker does with one stage of the session's plan."""
    classifier, image = session.classifier, session.image
    pixels = torch.from_numpy(image.pixels).reshape(1, *classifier.input_shape)
    return blindspot_search(classifier, pixels, planned.target, session.labels(), config=planned.config(classifier))[0]


class Events:
    """Every event a session raised, in order."""

    def __init__(self, session: BlindspotSession):
        self.seen: list[tuple[str, object]] = []
        for name in ("network_changed", "image_changed", "answer_changed", "result_changed", "goal_changed",
                     "noise_changed", "device_changed"):
            getattr(session, name).connect(lambda *args, name=name: self.seen.append((name, args[-1])))


def test_a_new_image_or_network_leaves_no_result_of_the_old_one(fc100, digits):
    session = BlindspotSession()
    events = Events(session)
    session.use_network("FC100-100-10", fc100)
    session.use_image(digits[0])
    assert session.ready() and session.result is None
    planned = session.begin_search("next")
    shown, note, following = session.finish_search(_run(session, planned))
    assert shown.success and session.result is shown and session.result_network == "FC100-100-10"
    assert note == "" and following is None  # the smallest change asked for: nothing follows
    session.show_answer(np.ones(10) / 10)
    session.use_image(digits[1])
    assert session.result is None and session.answer is None
    assert events.seen[-2:] == [("image_changed", digits[1]), ("result_changed", None)]
    session.show_result(shown)
    session.use_network("FC100-100-10 again", fc100)
    assert session.result is None and session.result_network is None
    assert session.known("minimal") is None  # the key of the search shown went with the network


def test_the_confident_goal_searches_the_smallest_change_first_then_the_same_answer(fc100, digits):
    session = BlindspotSession()
    session.use_network("FC100-100-10", fc100)
    session.use_image(digits[0])
    session.set_goal(Goal(confidence=0.9))
    planned = session.begin_search("none")
    assert planned.confidence is None and planned.target == "none"  # the smallest change first
    minimal, _, following = session.finish_search(_run(session, planned))
    assert minimal.goal == "minimal" and minimal.success
    assert following.confidence == 0.9 and following.target == "none"
    confident, note, after = session.finish_search(_run(session, following))
    assert confident.success and confident.target_probability >= 0.9 - 1e-6 and after is None
    assert confident.distortion > minimal.distortion
    assert session.known("minimal") is minimal and session.known("confident") is confident
    # Run again on the same image, network and target: the smallest change is known, so the confident one runs alone
    again = session.begin_search("none")
    assert again.confidence == 0.9
    assert session.result is None  # a new search clears the one on screen


def test_a_known_failure_of_the_smallest_change_is_shown_without_searching(fc100, digits):
    session = BlindspotSession()
    session.use_network("FC100-100-10", fc100)
    session.use_image(digits[0])
    label = digits[0].label
    planned = session.begin_search(label)  # the class it already is: "fooled" by no change at all
    result, _, _ = session.finish_search(_run(session, planned))
    failed = dataclasses.replace(result, success=False)
    session.goals.remember(*session.searching, failed)
    session.set_goal(Goal(confidence=0.9))
    assert session.begin_search(label) is failed and session.result is failed


def test_goal_noise_and_device_raise_events_only_when_they_change():
    session = BlindspotSession()
    events = Events(session)
    for _ in range(2):
        session.set_goal(Goal(confidence=0.8))
        session.set_noise(True)
        session.set_device("cpu")
    assert events.seen == [("goal_changed", Goal(confidence=0.8)), ("noise_changed", True)]


def test_a_new_goal_takes_the_result_of_the_old_one_off_screen(fc100, blind_spot):
    session = BlindspotSession()
    session.show_result(blind_spot)
    events = Events(session)
    session.set_goal(Goal(robust=0.9))
    assert session.result is None and events.seen == [("goal_changed", Goal(robust=0.9)), ("result_changed", None)]


def test_the_command_line_and_the_window_build_the_same_search(fc100):
    request = SearchRequest(target="random", seed=7, candidates=2, confidence=0.8)
    config = request.config(fc100, partial_interval=0.3)
    assert config == dataclasses.replace(config_for(fc100), seed=7, untargeted_candidates=2, confidence=0.8,
                                         partial_interval=0.3)
    assert SearchRequest().config(fc100) == config_for(fc100)


def test_the_confident_chain_of_the_command_line_matches_the_window_s_stages(fc100, digits):
    images = torch.stack([torch.from_numpy(digit.pixels)[None] for digit in digits])
    labels = torch.tensor([digit.label for digit in digits])
    request = SearchRequest(target="next", confidence=0.9)
    minimal, confident = search_chain(fc100, images, request, labels)
    for image, first, second in zip(digits, minimal, confident):
        assert first.goal == "minimal" and second.goal != "minimal"
        assert second.target == first.target == (image.label + 1) % 10
        assert second.target_probability >= 0.9 - 1e-6 and second.distortion > first.distortion
    plain_minimal, plain = search_chain(fc100, images, request.minimal(), labels)
    assert plain_minimal is None
    assert [result.distortion for result in plain] == pytest.approx([result.distortion for result in minimal])
