"""Tests for `sweep_records.reusable_runs`: the store's runs a sweep reuses, found by identity."""

import numpy as np

import ablate.identity
from ablate.config import resolved_dict
from ablate.identity import run_identity
from ablate.sweep_store import SweepStore
from ablate.tracking import IDENTITY_TAG, Tracker
from conftest import compose
from hydra_plugins.ablate_sweeper.sweep_records import reusable_runs


def test_reusable_runs_match_by_identity_and_hash_each_data_file_once(
    tmp_path, store_uri, monkeypatch
):
    path = tmp_path / "table.npz"
    np.savez(path, x_train=np.zeros((30, 4), "float32"), y_train=np.arange(30) % 3)
    on_file = ("data=npz", f"data.path={path}", "model=mlp")
    configs = {
        "baseline": resolved_dict(compose(*on_file)),
        "smoothing=0.1": resolved_dict(compose(*on_file, "smoothing=0.1")),
        "data=digits": resolved_dict(compose("data=digits")),
    }
    tracking = compose(f"tracking.uri={store_uri}").tracking
    done = Tracker(tracking).start_run(
        "earlier", {IDENTITY_TAG: run_identity({**configs["smoothing=0.1"], "seed": 1})}
    )
    done.end("FINISHED")
    calls = []
    fingerprint = ablate.identity.data_fingerprint
    monkeypatch.setattr(
        ablate.identity, "data_fingerprint", lambda data: calls.append(1) or fingerprint(data)
    )

    found = reusable_runs(SweepStore(tracking), configs, seeds=[0, 1, 2])

    assert {key: run.info.run_id for key, run in found.items()} == {
        ("smoothing=0.1", 1): done.run_id
    }
    assert len(calls) == 2  # one per distinct data config, not 3 arms x 3 seeds
