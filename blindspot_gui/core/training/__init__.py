"""Training the paper's networks: the shared loop, plain training from scratch, and adversarial training."""
