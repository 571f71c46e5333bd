"""Facts: the training recipe's hyperparameters, each with provenance."""
