"""The paper's experiments (Tables 1 to 5, adversarial training) as resumable jobs, the paper's figures beside ours.

Results are plain dictionaries; ``comparison_table`` turns any of them into rows of (ours, paper,
difference) cells for the command line, the window and the CSV export. Modules by role:

- ``registry``: ``REGISTRY`` {name: ExperimentSpec (title, description, settings, checks, run)} and
  ``run_experiment``, which both front ends read and call;
- ``store``: the finished parts on disk (``PartStore``) and the checks a part passes before reuse;
- ``backends``: where parts are computed: here, or as tasks on a Ray cluster (``use_cluster``);
- ``targets``: the target rule of the attacks, a choice where the paper is silent;
- ``attacked``: Tables 1 and 3 (each model's errors and the attack of its images);
- ``photo_attacked``: Tables 1 and 2 for photo networks on a folder of labelled photos (parts of 16 photos);
- ``generalisation``: Tables 2 and 4 (examples made for one model fed to the others; Gaussian noise);
- ``bounds``: Table 5 (upper Lipschitz bounds);
- ``adversarial_training``: section 4.2 (partial results ``AdvTrainBaseline``, then ``AdvTrainReport`` per epoch);
- ``noise_training``: adversarial training against training on noise of the same size (FC100-100-10, each measured);
- ``vote_defence``: the floating-window vote (core/defence.py): its cost, what it stops, the attack aimed at it;
- ``noise_curve``: how often noise fools a net at multiples of each image's smallest blind spot;
- ``paper``: the paper's figures;
- ``comparison``: the report writers (``ComparisonTable``, text and CSV).

The choices where the paper is silent are stated in the modules that make them and in every result.
"""

from blindspot_gui.core.experiments.adversarial_training import (
    ADVTRAIN_BASELINE,
    ADVTRAIN_MODELS,
    AdvTrainBaseline,
    advtrain,
    check_baseline,
)
from blindspot_gui.core.experiments.attacked import ATTACK_BATCH, EXPERIMENT_THREADS, table1, table3
from blindspot_gui.core.experiments.bounds import table5
from blindspot_gui.core.experiments.photo_attacked import PHOTO_NOISE_STDDEVS, PHOTO_RULES, photo_table1, photo_table2
from blindspot_gui.core.experiments.comparison import (
    Cell,
    ComparisonTable,
    comparison_table,
    table_as_csv,
    table_as_csv_text,
    table_as_text,
)
from blindspot_gui.core.experiments.generalisation import NOISE_STDDEVS, table2, table4
from blindspot_gui.core.experiments.paper import (
    PAPER_ADVTRAIN,
    PAPER_TABLE2,
    PAPER_TABLE4,
    PAPER_TABLE5,
    TABLE1_MODELS,
    TABLE3_MODELS,
)
from blindspot_gui.core.experiments.registry import (
    REGISTRY,
    ExperimentSpec,
    AdvNoiseSettings,
    AdvTrainSettings,
    AttackedTableSettings,
    PhotoTableSettings,
    BoundsSettings,
    NoiseCurveSettings,
    VoteSettings,
    run_experiment,
)
from blindspot_gui.core.experiments.noise_curve import noise_curve
from blindspot_gui.core.experiments.store import STORE_VERSION, PartError, PartStore, experiments_dir
from blindspot_gui.core.experiments.targets import (
    DEFAULT_TARGET_RULE,
    TARGET_RULES,
    TARGET_SEED,
    check_target_rule,
    experiment_targets,
)

__all__ = [
    "ADVTRAIN_BASELINE", "ADVTRAIN_MODELS", "ATTACK_BATCH", "AdvNoiseSettings", "AdvTrainBaseline", "AdvTrainSettings",
    "AttackedTableSettings", "BoundsSettings", "NoiseCurveSettings", "VoteSettings", "noise_curve", "Cell", "ComparisonTable", "DEFAULT_TARGET_RULE", "EXPERIMENT_THREADS",
    "NOISE_STDDEVS", "PAPER_ADVTRAIN", "PAPER_TABLE2", "PAPER_TABLE4", "PAPER_TABLE5", "PartError", "PartStore",
    "REGISTRY", "ExperimentSpec", "STORE_VERSION", "PHOTO_NOISE_STDDEVS", "PHOTO_RULES", "PhotoTableSettings",
    "photo_table1", "photo_table2", "TABLE1_MODELS", "TABLE3_MODELS", "TARGET_RULES", "TARGET_SEED", "advtrain",
    "check_baseline", "check_target_rule", "comparison_table", "experiment_targets", "experiments_dir",
    "run_experiment", "table1", "table2", "table3", "table4", "table5", "table_as_csv", "table_as_csv_text",
    "table_as_text",
]
