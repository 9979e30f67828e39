"""The "applied as" table: each arm's evidence, averaged over its finished runs."""

from synthetic_sweeps import frame_of, run

from ablate.report.evidence import applied_as

SCHEDULE = {"optimizer_updates": 1100.0, "lr_peak": 1e-3, "lr_last": 1e-4}


def test_each_arm_shows_what_its_runs_recorded():
    records = [
        run("baseline", 0, 0.9, **SCHEDULE),
        run("baseline", 1, 0.9, **SCHEDULE),
        run(
            "swa=on",
            0,
            0.9,
            **SCHEDULE,
            swa_snapshots=5.0,
            swa_first_epoch=6.0,
            swa_last_epoch=10.0,
        ),
        run(
            "swa=on",
            1,
            0.9,
            **SCHEDULE,
            swa_snapshots=4.0,
            swa_first_epoch=7.0,
            swa_last_epoch=10.0,
        ),
        run(
            "smoothing=0.1",
            0,
            0.9,
            augment_changed_share=0.5,
            attention_params=33344.0,
            attention_tokens=49.0,
        ),
        run("smoothing=0.1", 1, None, status="FAILED", augment_changed_share=0.0),
    ]
    table = applied_as(frame_of(records)).set_index("arm")["applied as"].to_dict()
    assert table["baseline"] == "1,100 updates, lr peak 0.001 → last 0.0001"
    assert table["swa=on"] == (
        "1,100 updates, lr peak 0.001 → last 0.0001; SWA 4 snapshots (epochs 6-10)"
    )  # means over the runs: 4.5 snapshots and epochs 6.5-10, shown rounded half to even
    assert table["smoothing=0.1"] == (
        "attention +33,344 params, 49 tokens; augmentation changed 50 % of images"
    )


def test_an_arm_without_evidence_says_so():
    table = applied_as(frame_of([run("baseline", 0, 0.9), run("swa=on", 0, 0.9)]))
    assert table["applied as"].tolist() == ["n/a", "n/a"]
