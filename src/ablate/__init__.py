"""ablate: baseline-relative ablation studies for Keras 3, composed by Hydra, tracked by MLflow."""

__version__ = "0.2.0"
