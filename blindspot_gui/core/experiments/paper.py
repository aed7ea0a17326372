"""The paper's figures that our experiments are compared with, and the models each of its tables lists.

Tables 1 and 3 (each model's errors and distortion) are kept with the models themselves, in
``ModelSpec.paper`` (core/models/mnist_zoo.py).
"""

TABLE1_MODELS = ("FC10(1e-4)", "FC10(1e-2)", "FC10(1)", "FC100-100-10", "FC200-200-10", "AE400-10")
TABLE3_MODELS = ("FC100-100-10 (P1)", "FC123-456-10 (P1)", "FC100-100-10' (P2)")

PAPER_TABLE2 = {
    "FC10(1e-4)": (1.00, 0.117, 0.227, 0.02, 0.039, 0.027),
    "FC10(1e-2)": (0.871, 1.00, 0.352, 0.359, 0.273, 0.098),
    "FC10(1)": (0.719, 0.762, 1.00, 0.481, 0.47, 0.344),
    "FC100-100-10": (0.289, 0.137, 0.211, 1.00, 0.066, 0.02),
    "FC200-200-10": (0.382, 0.14, 0.238, 0.203, 1.00, 0.027),
    "AE400-10": (0.234, 0.16, 0.248, 0.094, 0.066, 1.00),
    "noise 0.1": (0.05, 0.101, 0.183, 0.0, 0.0, 0.008),
    "noise 0.3": (0.156, 0.113, 0.227, 0.05, 0.043, 0.031),
}
"""Table 2 of the paper: error induced on each column's model (in TABLE1_MODELS order)."""

PAPER_TABLE4 = {
    "FC100-100-10 (P1)": (1.00, 0.262, 0.059),
    "FC123-456-10 (P1)": (0.0625, 1.00, 0.051),
    "FC100-100-10' (P2)": (0.082, 0.082, 1.00),
    "noise 0.06": (0.022, 0.026, 0.024),
    "FC100-100-10 (P1) amplified": (1.00, 0.98, 0.43),
    "FC123-456-10 (P1) amplified": (0.96, 1.00, 0.22),
    "FC100-100-10' (P2) amplified": (0.27, 0.50, 1.00),
    "noise 0.1": (0.026, 0.028, 0.027),
}
"""Table 4 of the paper: error induced on each column's model (in TABLE3_MODELS order)."""

PAPER_TABLE5 = (("Conv. 1", 2.75), ("Conv. 2", 10.0), ("Conv. 3", 7.0), ("Conv. 4", 7.5), ("Conv. 5", 11.0),
                ("FC. 1", 3.12), ("FC. 2", 4.0), ("FC. 3", 4.0))
"""Table 5 of the paper: upper bounds of AlexNet's layers (its own trained weights)."""

PAPER_ADVTRAIN = {"baseline_test_error": 0.016, "test_error": 0.012}
"""Section 4.2: weight decay alone 1.6% test error; adversarial training "below 1.2%"."""
