"""`tracking.log_model=true`: the trained model is logged as the run's MLflow model."""

import keras
import numpy as np
import pytest

from ablate.config import validate
from ablate.data import load_dataset
from ablate.data.splits import split_dataset
from ablate.errors import InputError
from ablate.run import run
from ablate.run_files import MODEL_FOLDER
from ablate.tracking import Tracker
from ablate.tracking_transfer import upload_run
from conftest import TINY, compose


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """One tiny run with `tracking.log_model=true` in a fresh SQLite store.

    Returns:
        `(store_uri, cfg, metrics, run_id, output_folder)`.
    """
    import mlflow

    folder = tmp_path_factory.mktemp("logged")
    uri = f"sqlite:///{folder}/mlflow.db"
    cfg = compose(*TINY, f"tracking.uri={uri}", "tracking.log_model=true")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)  # the store's artifacts (./mlruns) go to the test's folder
        metrics = run(cfg, folder / "out", "logged")
    (stored,) = mlflow.MlflowClient(uri).search_runs(
        [e.experiment_id for e in mlflow.MlflowClient(uri).search_experiments()]
    )
    return uri, cfg, metrics, stored.info.run_id, folder / "out"


def run_test_split(cfg):
    """The run's test split, as the run made it (same data config and seed)."""
    raw = load_dataset(cfg.data)
    splits = split_dataset(raw, cfg.data.val_fraction, cfg.data.test_fraction, cfg.seed)
    return splits.x_test.astype("float32"), splits.y_test


def only_model_of(client, run_id: str) -> str:
    (output,) = client.get_run(run_id).outputs.model_outputs
    return output.model_id


def test_the_logged_model_predicts_what_the_run_measured(logged):
    import mlflow
    from mlflow.entities import LoggedModelStatus

    uri, cfg, metrics, run_id, folder = logged
    client = mlflow.MlflowClient(uri)
    model_id = only_model_of(client, run_id)
    mlflow.set_tracking_uri(uri)
    model = mlflow.keras.load_model(f"models:/{model_id}")

    x_test, y_test = run_test_split(cfg)
    probabilities = model.predict(x_test, verbose=0)
    accuracy = np.mean(probabilities.argmax(axis=1) == y_test)
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-7)  # 305 of 360
    one_hot = keras.utils.to_categorical(y_test, 10)
    nll = np.mean(keras.losses.categorical_crossentropy(one_hot, probabilities))
    assert float(nll) == pytest.approx(metrics["test_nll"], rel=1e-6)

    # the same predictions through the run's name, MLflow's pyfunc, and the run's own folder
    few = x_test[:5]
    for loaded in (
        mlflow.keras.load_model(f"runs:/{run_id}/model"),
        mlflow.pyfunc.load_model(f"models:/{model_id}"),
        mlflow.keras.load_model(str(folder / MODEL_FOLDER)),
    ):
        np.testing.assert_array_equal(loaded.predict(few), probabilities[:5])

    signature = mlflow.models.get_model_info(f"models:/{model_id}").signature
    (inputs,), (outputs,) = signature.inputs.inputs, signature.outputs.inputs
    assert (inputs.shape, str(inputs.type)) == ((-1, 8, 8, 1), "float32")
    assert (outputs.shape, str(outputs.type)) == ((-1, 10), "float32")
    assert not model.compiled  # loads without ablate's optimizer classes

    logged_model = client.get_logged_model(model_id)
    assert (logged_model.name, logged_model.source_run_id) == ("model", run_id)
    assert logged_model.status == LoggedModelStatus.READY
    assert MODEL_FOLDER not in {a.path for a in client.list_artifacts(run_id)}  # stored once


def test_a_run_whose_store_was_away_gets_its_model_at_upload_once(logged):
    import mlflow

    uri, cfg, _, run_id, folder = logged
    client = mlflow.MlflowClient(uri)
    offline = Tracker(cfg.tracking).start_run("offline", {})  # what an unreached run left
    upload_run(uri, offline.run_id, folder)
    upload_run(uri, offline.run_id, folder)  # a second upload logs nothing twice

    model_id = only_model_of(client, offline.run_id)
    assert client.get_run(offline.run_id).info.status == "FINISHED"
    mlflow.set_tracking_uri(uri)
    uploaded = mlflow.keras.load_model(f"models:/{model_id}")
    original = mlflow.keras.load_model(f"models:/{only_model_of(client, run_id)}")
    few = run_test_split(cfg)[0][:5]
    np.testing.assert_array_equal(uploaded.predict(few), original.predict(few))


def test_a_run_reused_by_a_later_sweep_lists_the_same_model(logged):
    from ablate.sweep_store import SweepStore

    uri, cfg, _, run_id, _ = logged
    store = SweepStore(cfg.tracking)
    source = store.client.get_run(run_id)
    reused = store.reuse(run_id, source, "baseline seed=0", {})
    assert only_model_of(store.client, reused) == only_model_of(store.client, run_id)


def test_by_default_no_model_is_logged(tmp_path, store_uri, monkeypatch):
    import mlflow

    monkeypatch.chdir(tmp_path)
    run(compose(*TINY, f"tracking.uri={store_uri}"), tmp_path / "out", "plain")
    client = mlflow.MlflowClient(store_uri)
    (stored,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert not stored.outputs.model_outputs
    assert not client.search_logged_models([stored.info.experiment_id])
    assert not (tmp_path / "out" / MODEL_FOLDER).exists()


def test_a_model_needs_a_store_to_be_logged_to():
    with pytest.raises(InputError) as raised:
        validate(compose("tracking=none", "tracking.log_model=true"))
    assert str(raised.value) == (
        "`tracking.log_model=true` cannot be combined with `tracking=none`: the model is "
        "logged to the run's MLflow store, and there is none. Received: "
        "tracking.log_model=true with tracking=none. Use tracking=mlflow, or "
        "tracking.log_model=false."
    )
