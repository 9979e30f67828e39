"""The control-variable sweep: plan, confound guard, store bookkeeping and the end-of-sweep report.

The Hydra plugin in `hydra_plugins/ablate_sweeper` drives these modules; they import neither
TensorFlow nor (at import time) MLflow, so Hydra's start-up stays fast.
"""
