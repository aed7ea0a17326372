"""The `blindspot` argument parser: every command's options, each command tied to its check and its run."""

from __future__ import annotations

import argparse

from blindspot_gui.cli.attack import check_attack, command_attack
from blindspot_gui.cli.common import DEFAULT_IMAGES
from blindspot_gui.cli.compare import check_compare, command_compare
from blindspot_gui.cli.pathway import check_pathway, command_pathway
from blindspot_gui.cli.models import check_eval, check_train, command_eval, command_models, command_train
from blindspot_gui.cli.reproduce import check_reproduce, command_reproduce
from blindspot_gui.cli.survive import check_survive, command_survive
from blindspot_gui.cli.units import check_units, command_units
from blindspot_gui.core.models.zoo_weights import user_models_dir
from blindspot_gui.core.photos import image_option


def add_device_option(command, what: str) -> None:
    command.add_argument("--device", help=f"the torch device for {what}: cpu (the default), cuda or cuda:N")


def add_own_network_options(command) -> None:
    """--model-file and what describes it: a user's own photo classifier (attack and compare)."""
    command.add_argument("--model-file", metavar="FILE", help="your own classifier, digits or photos: an ONNX file "
                                                              "(.onnx), or weights (.safetensors or a state dict) "
                                                              "with --architecture")
    command.add_argument("--input-range", choices=("0-1", "0-255"),
                         help="pixel values an ONNX --model-file expects (default: its metadata's, else 0-1)")
    command.add_argument("--architecture", help="torchvision architecture of --model-file's state dict, e.g. resnet18")
    command.add_argument("--preprocessing", choices=("imagenet", "efficientnet-lite", "none"),
                         help="normalisation --model-file expects (default imagenet)")
    command.add_argument("--classes", metavar="FILE", help="class names of --model-file, one per line")


def add_goal_options(command) -> None:
    """--goal and --share (and --confidence where the command has no --confidence of its own)."""
    command.add_argument("--goal", choices=("minimal", "confident", "robust"),
                         help="minimal: the smallest change (the paper; the default); confident: the smallest after "
                              "which the network is sure of its wrong answer (--confidence, default 90%%); robust: the "
                              "smallest whose wrong answer holds on --share (default 90%%) of 16 changed copies (shifts "
                              "of up to 2 px, rotations up to 5 degrees, rescaling 0.9-1.1, brightness 5%%, noise; 8 for "
                              "a photo)")
    command.add_argument("--share", metavar="S", help="--goal robust: the share of changed copies (0.9 or 90%%)")


def add_one_blind_spot_options(command, required: bool) -> None:
    """--image, --model, --target, --goal and --confidence of a command that follows one image's blind spot, and the
    options of a user's own network (pathway, survive)."""
    command.add_argument("--image", required=required, metavar="test:I|FILE", type=image_option,
                         help="an MNIST test digit (test:I, with a zoo --model), a photo file or a sample photo "
                              "(samples:cat) for a photo network; its blind spot is searched first")
    command.add_argument("--model", help="model name or key, e.g. fc100-100-10, or a photo network: efficientnet-lite0 "
                                         "(the default for a photo)")
    command.add_argument("--target", default="none",
                         help="none (the nearest wrong class; the default), next, random, least-likely, or a class")
    add_goal_options(command)
    command.add_argument("--confidence", metavar="P", help="--goal confident: the probability the wrong answer reaches")
    add_own_network_options(command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blindspot",
        description="Reproduce and explore the blind spots of neural networks (Szegedy et al., ICLR 2014).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    models = commands.add_parser("models", help="list the model zoo with weight status and errors")
    models.add_argument("--json", action="store_true", help="print JSON instead of a table")
    models.set_defaults(run=command_models)

    evaluate = commands.add_parser("eval", help="re-measure a model's training and test error")
    evaluate.add_argument("name", help="model name or key, e.g. fc100-100-10")
    evaluate.add_argument("--weights", help="evaluate this weights file instead of the installed one")
    evaluate.add_argument("--json", action="store_true", help="print JSON")
    evaluate.set_defaults(run=command_eval, check=check_eval)

    train = commands.add_parser("train", help="train zoo models from scratch")
    train.add_argument("names", nargs="*", metavar="NAME", help="model names or keys")
    train.add_argument("--all", action="store_true", help="train every model of the zoo")
    train.add_argument("--out", help=f"folder for weights and records (default: {user_models_dir()})")
    train.add_argument("--limit", type=int, metavar="N",
                       help="train on only the first N images of the model's training data (a quick trial)")
    add_device_option(train, "training")
    train.set_defaults(run=command_train, check=check_train)
    attack = commands.add_parser("attack", help="find blind spots: the paper's box-constrained L-BFGS search")
    attack.add_argument("--model", help="model name or key, e.g. fc100-100-10, or a photo network: efficientnet-lite0 "
                                        "(the default with --image)")
    attack.add_argument("--images", help=f"digits: test:START:STOP or train:START:STOP (default {DEFAULT_IMAGES})")
    add_device_option(attack, "the search")
    attack.add_argument("--target", default="next",
                        help="next, random, least-likely, none (untargeted) or a label 0-9 (default: next)")
    attack.add_argument("--engine", choices=("fast", "reference"),
                        help="fast: batched torch L-BFGS-B; reference: scipy L-BFGS-B per image (default: fast)")
    attack.add_argument("--seed", type=int, help="--target random: seed of the random wrong labels (default 0)")
    attack.add_argument("--confidence", metavar="P",
                        help="a confident blind spot: the smallest change after which the network answers the target "
                             "with probability at least P (0 < P < 1, e.g. 0.9 or 90%%); default: the paper's minimal "
                             "change, which stops at the decision boundary")
    attack.add_argument("--margin", metavar="K",
                        help="a confident blind spot by logits: the target's logit at least K above every other "
                             "(K > 0); not with --confidence")
    add_goal_options(attack)
    attack.add_argument("--candidates", type=int, metavar="K",
                        help="--target none: search the K wrong classes a linear model of the network puts nearest "
                             "(default 4; 9 searches every wrong digit)")
    attack.add_argument("--json", metavar="FILE", help="write one record per image")
    attack.add_argument("--npz", metavar="FILE",
                        help="write arrays original and adversarial (N, C, H, W: channels first, pixels in [0, 1]; "
                             "digits 1x28x28, photos 3x224x224 as the network sees them), target (-1: untargeted), "
                             "and for digits label and index, for photos prediction and adversarial_prediction")
    attack.add_argument("--image", metavar="FILE", type=image_option,
                        help="a photo for an ImageNet network (any size; resized and cropped to 224x224 as the network "
                             "expects), or a sample photo by name: samples:cat")
    add_own_network_options(attack)
    attack.add_argument("--save", metavar="FILE", help="save the adversarial image as an 8-bit PNG (one digit, or "
                                                       "the photo, its change scaled up if rounding undoes it)")
    attack.set_defaults(run=command_attack, check=check_attack)

    compare = commands.add_parser("compare", help="one image attacked by ours and by FGSM, DeepFool, DDN and C&W: "
                                                  "distortion and time of each")
    compare.add_argument("--image", required=True, metavar="test:I|FILE", type=image_option,
                         help="an MNIST test digit (test:I, with a zoo --model), a photo file or a sample photo "
                              "(samples:cat) for a photo network")
    compare.add_argument("--model", help="model name or key, e.g. fc100-100-10, or a photo network: efficientnet-lite0 "
                                         "(the default for a photo)")
    compare.add_argument("--target", default="none",
                         help="none (the nearest wrong class: every method runs; the default), next, random, "
                              "least-likely, or a class (a digit, or an ImageNet name such as ostrich); DeepFool only "
                              "runs untargeted")
    compare.add_argument("--confidence", metavar="P",
                         help="the Confident goal: judge every method by the network answering the target with "
                              "probability at least P (0.9 or 90%%); ours and FGSM aim at it")
    compare.add_argument("--methods", metavar="LIST",
                         help="comma-separated, from ours,fgsm,deepfool,ddn,cw (default: all, in that order)")
    compare.add_argument("--save", metavar="DIR",
                         help="write original.png and each method's adversarial image as an 8-bit PNG that still "
                              "fools the network (searched on the 8-bit lattice)")
    add_own_network_options(compare)
    compare.set_defaults(run=command_compare, check=check_compare)

    path = commands.add_parser("pathway", help="where one blind spot's change takes hold, layer by layer, beside "
                                                "random noise of the same size and Table 5's bounds")
    add_one_blind_spot_options(path, required=True)
    path.add_argument("--draws", type=int, default=32, metavar="N",
                      help="random noise draws of the change's L2 size (default 32)")
    path.add_argument("--json", metavar="FILE", help="write every layer's figures and the reading")
    path.set_defaults(run=command_pathway, check=check_pathway)

    survive = commands.add_parser("survive", help="does a blind spot survive natural changes: codecs, shifts, "
                                                  "rotations, rescaling, brightness, noise of its size")
    add_one_blind_spot_options(survive, required=False)
    survive.add_argument("--npz", metavar="FILE", help="instead of --image: blind spots found before, as `blindspot "
                                                       "attack --npz` writes them (arrays original and adversarial)")
    survive.add_argument("--json", metavar="FILE", help="write every change's answer and the shares per family")
    survive.set_defaults(run=command_survive, check=check_survive)

    units = commands.add_parser("units", help="the test images that most excite a unit or a random direction")
    units.add_argument("--model", required=True, help="model name or key, e.g. conv")
    units.add_argument("--layer", required=True, help="a module name from model.named_modules(), e.g. relu3")
    units.add_argument("--unit", type=int, help="the unit (natural basis direction e_I)")
    units.add_argument("--random", type=int, metavar="SEED", help="a random unit-length direction from SEED")
    units.add_argument("--top", type=int, default=8, metavar="K", help="how many images (default 8)")
    units.add_argument("--bottom", action="store_true", help="the K images that excite it least instead")
    units.add_argument("--mode", choices=("full", "channel-mean", "channel-max"), default="full",
                       help="conv layers: the whole flattened feature map (default, as in the paper) "
                            "or one number per channel")
    add_device_option(units, "the network")
    units.add_argument("--json", metavar="FILE", help="write the direction, image indices, scores and labels")
    units.add_argument("--png", metavar="FILE", help="save the images side by side")
    units.set_defaults(run=command_units, check=check_units)

    reproduce = commands.add_parser("reproduce", help="reproduce a table of the paper (ours beside the paper's)")
    reproduce.add_argument("experiment", choices=("table1", "table2", "table3", "table4", "table5", "advtrain",
                                                  "noisecurve", "advnoise", "vote"),
                           help="a table of the paper, adversarial training, noisecurve (the share of test images "
                                "random noise fools at 1 to 50 times each image's smallest blind spot; --model, "
                                "default FC100-100-10) or advnoise (FC100-100-10 trained plainly, on noise the size "
                                "of the adversarial changes and adversarially, each measured) or vote (the "
                                "floating-window vote: its cost, the blind spots it stops, the attack aimed at it; "
                                "--model, default FC100-100-10)")
    reproduce.add_argument("--model", help="noisecurve and vote: the zoo network; table5: a zoo model or a photo network (e.g. efficientnet-lite0) instead of "
                                          "the paper's AlexNet; table1: a photo network, attacked on --images; "
                                          "table2: photo networks separated by commas (efficientnet-lite0,resnet18)")
    reproduce.add_argument("--images", metavar="FOLDER",
                           help="table1 or table2 with --model: a folder with one subfolder of photos per class, each named by "
                                "the class's exact name or number, or photos with a labels.csv of lines "
                                "'file,class' (default: the sample photos whose class is known)")
    reproduce.add_argument("--rule", choices=("random", "next", "nearest"),
                           help="tables 1-4 and advnoise: the target label of each attack (default random: a seeded random wrong "
                                "label; the photo tables take random or next)")
    reproduce.add_argument("--per-layer", action="store_true",
                           help="advtrain: also train on adversarial examples of each hidden layer's output")
    reproduce.add_argument("--epochs", type=int, help="advtrain: fewer epochs for a quick look (not saved to the zoo); "
                                                       "advnoise: fewer epochs for the plain and noise nets")
    reproduce.add_argument("--n",
                           help="images to attack per model (training images for tables 1-2, test images for "
                                "tables 3-4, noisecurve and advnoise, photos of --images for the photo tables), or "
                                "'all' (default 1000)")
    add_device_option(reproduce, "tables 1-4, the photo tables and advtrain (with --cluster, each part asks "
                                 "the cluster for a GPU of its own)")
    reproduce.add_argument("--cluster", metavar="ADDRESS",
                           help="compute each part (a network, 16 photos, a layer's bound, an epoch) as a task on "
                                "a Ray cluster: 'local' (start "
                                "one on this machine), 'auto' (the one running here) or its address; finished parts "
                                "come back here and are stored as in a local run (needs pip install "
                                "\"blindspot-gui[cluster]\")")
    reproduce.add_argument("--json", metavar="FILE", help="write the full result")
    reproduce.add_argument("--csv", metavar="FILE", help="write the table")
    reproduce.set_defaults(run=command_reproduce, check=check_reproduce)
    return parser
