"""The trained model as an MLflow Model in the run's folder (`tracking.log_model=true`).

`save_mlflow_model` writes `model/` into the run's output folder in the format of MLflow's
Keras 3 flavor (`mlflow.keras.save_model`: `MLmodel` with the signature, `data/model.keras`,
the pip requirements); `ablate.tracking` then logs that folder as the run's logged model, as
`mlflow.keras.log_model` would. A run whose tracking store stopped answering keeps the folder,
and `python -m ablate.upload` logs it once the store is back.

The model saved is an uncompiled copy with the trained weights: loading it needs Keras and
TensorFlow only, not ablate, whose optimizer and schedule classes some arms compile with.
"""

import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

import keras
import numpy as np

from ablate.run_files import MODEL_FOLDER

# What the model needs to be loaded and served (pinned; without them MLflow would load the
# model in a fresh interpreter to infer them, several seconds per run).
REQUIREMENTS = ("keras", "tensorflow")


def save_mlflow_model(model: keras.Model, folder: Path, examples: np.ndarray) -> Path:
    """Saves `model` as an MLflow Model in `folder / "model"`, with its signature.

    The signature (`mlflow.models.infer_signature`) is inferred from `examples` and the saved
    copy's predictions for them: the input tensor's dtype and shape (batch dimension -1), the
    output's likewise. Inputs are float32, or, for a text model, an object array of strings
    (what Keras' `predict`, and so MLflow's Keras flavor, takes).

    Args:
        model: the trained model.
        folder: the run's output folder.
        examples: a few examples' features, as a split holds them (e.g. `x_val[:5]`).

    Returns:
        The MLflow Model's folder. An earlier one there is replaced.

    Example:

    >>> path = save_mlflow_model(model, output_dir, x_val[:5])
    >>> mlflow.pyfunc.load_model(str(path)).predict(x_val[:5].astype("float32"))
    """
    import mlflow
    from mlflow.models import infer_signature

    is_text = examples.dtype.kind in "OSU"
    inputs = examples.astype(object) if is_text else examples.astype("float32")
    saved = uncompiled_copy(model)
    signature = infer_signature(inputs, saved.predict(inputs, verbose=0))
    path = folder / MODEL_FOLDER
    shutil.rmtree(path, ignore_errors=True)  # MLflow writes into a new folder only
    requirements = [f"{name}=={metadata.version(name)}" for name in REQUIREMENTS]
    mlflow.keras.save_model(saved, str(path), signature=signature, pip_requirements=requirements)
    return path


def uncompiled_copy(model: keras.Model) -> keras.Model:
    """Returns `model` with its weights and state (a text model's vocabulary too), uncompiled.

    Saved and loaded back with `compile=False`: `keras.models.clone_model` would compile the
    copy as the original, and `Model.from_config` loses what `adapt` learned.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        return keras.saving.load_model(path, compile=False)
