"""modellint: a static linter for deep-learning training code and configs."""

__version__ = "0.1.0"
