"""The sweep's side of the store (`ablate.sweep_store`): claims, reuse, time estimates.

Claims, resume and reuse through a real sweep are tested in `tests/hydra_plugins/`.
"""

import time

from ablate.sweep_store import SweepStore
from ablate.tracking import CONFIG_HASH_TAG, JOB_STARTED_TAG, Tracker
from conftest import compose


def test_the_plan_estimate_counts_a_claimed_run_from_its_job_and_leaves_out_reused_copies(
    store_uri,
):
    tracking = compose(f"tracking.uri={store_uri}").tracking
    store = SweepStore(tracking)
    parent, _ = store.open_parent("key", "sweep-1", {})
    claimed = store.claim(parent, "baseline seed=0", {CONFIG_HASH_TAG: "abc"})
    time.sleep(1.5)  # queued behind other jobs
    run = Tracker(tracking).start_run("baseline seed=0", {}, claimed_run_id=claimed)
    time.sleep(0.3)  # trains
    run.end("FINISHED")
    source = store.client.get_run(claimed)
    copy = store.client.get_run(store.reuse(parent, source, "baseline seed=1", {}))

    queued_and_trained = (source.info.end_time - source.info.start_time) / 1000
    job = (source.info.end_time - int(source.data.tags[JOB_STARTED_TAG])) / 1000
    assert queued_and_trained >= 1.8 and 0.3 <= job < 1.0
    assert store.mean_duration_s("abc") == job  # the job's time only, the copy left out
    assert JOB_STARTED_TAG not in copy.data.tags
    assert copy.data.tags[CONFIG_HASH_TAG] == "abc"
