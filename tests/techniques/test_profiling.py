"""A profiler trace of a window of training steps in a real `fit`, and the metrics read back."""

import gzip
import json
import re
import socket
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from ablate.techniques.profiling import (
    HOST_PLANE,
    PROFILE_FOLDER,
    STEP_EVENT,
    profile_metrics,
    profiler_callback,
    trace_file,
)

BATCH_SIZE = 32
BATCHES = 20  # per epoch
EPOCHS = 2
SLEEP_S = 0.02  # per batch, in the slow input pipeline: several times a step's compute


def images():
    """640 random 8x8x1 images and their labels among 10 classes: 20 batches of 32."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCHES * BATCH_SIZE, 8, 8, 1)).astype("float32")
    return x, rng.integers(0, 10, BATCHES * BATCH_SIZE)


def slow_pipeline():
    """The images as a `tf.data` pipeline whose map sleeps `SLEEP_S` for each batch."""

    def sleep(batch):
        time.sleep(SLEEP_S)
        return batch

    def slow(x, y):
        return tf.ensure_shape(tf.py_function(sleep, [x], tf.float32), x.shape), y

    return tf.data.Dataset.from_tensor_slices(images()).batch(BATCH_SIZE).map(slow)


def fit(log_dir, start_step, steps, data=None):
    """Trains a small convnet for 2 epochs on `data` (a dataset, else the NumPy images),
    profiling `steps` steps after the first `start_step`; returns `trace_file(log_dir)`."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = images() if data is None else (data, None)
    model.fit(
        x,
        y,
        batch_size=None if data is not None else BATCH_SIZE,
        epochs=EPOCHS,
        shuffle=False,
        verbose=0,
        callbacks=[profiler_callback(log_dir, start_step, steps)],
    )
    return trace_file(log_dir)


def step_numbers(trace):
    """The `step_num` of each step in the trace, in time order: Keras' batch index in its epoch."""
    space = xplane_pb2.XSpace()
    space.ParseFromString(trace.read_bytes())
    (plane,) = [plane for plane in space.planes if plane.name == HOST_PLANE]
    step_id = next(i for i, m in plane.event_metadata.items() if m.name == STEP_EVENT)
    stat_id = next(i for i, m in plane.stat_metadata.items() if m.name == "step_num")
    events = [event for line in plane.lines for event in line.events]
    steps = sorted(
        (event.offset_ps, stat.int64_value)
        for event in events
        if event.metadata_id == step_id
        for stat in event.stats
        if stat.metadata_id == stat_id
    )
    return [number for _, number in steps]


@pytest.fixture(scope="module")
def plain_trace(tmp_path_factory):
    """The trace of steps 6 to 9 of in-memory NumPy data, under `<output>/profile`."""
    log_dir = tmp_path_factory.mktemp("output") / PROFILE_FOLDER
    return log_dir, fit(log_dir, start_step=5, steps=4)


def test_the_trace_lies_at_the_documented_place_and_holds_the_window(plain_trace):
    log_dir, trace = plain_trace
    train, plugins, profile, timestamp, name = trace.relative_to(log_dir).parts
    assert (train, plugins, profile) == ("train", "plugins", "profile")
    assert re.fullmatch(r"\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d", timestamp)
    assert name == f"{socket.gethostname()}.xplane.pb"
    metrics = profile_metrics(trace)
    assert metrics["profile_steps"] == 4
    assert metrics["profile_step_time_ms"] > 0
    assert step_numbers(trace) == [5, 6, 7, 8]  # steps 6 to 9, counted from 1


def test_in_memory_data_hardly_waits_for_input(plain_trace):
    _, trace = plain_trace
    assert 0 <= profile_metrics(trace)["profile_input_wait_share"] < 0.3  # 0.02-0.08 measured


def test_a_slow_input_pipeline_waits_most_of_the_step(tmp_path):
    metrics = profile_metrics(fit(tmp_path, start_step=5, steps=4, data=slow_pipeline()))
    assert metrics["profile_input_wait_share"] > 0.5  # 0.86-0.94 measured


def test_the_window_counts_steps_across_epochs(tmp_path):
    """Steps 19 to 22 of 20 per epoch: the last two of epoch 1 and the first two of epoch 2."""
    trace = fit(tmp_path, start_step=18, steps=4)
    assert profile_metrics(trace)["profile_steps"] == 4
    assert step_numbers(trace) == [18, 19, 0, 1]


def test_a_window_past_the_end_of_training_is_cut_or_absent(tmp_path):
    cut = fit(tmp_path / "cut", start_step=BATCHES * EPOCHS - 2, steps=4)
    assert profile_metrics(cut)["profile_steps"] == 2
    assert fit(tmp_path / "absent", start_step=BATCHES * EPOCHS, steps=4) is None


def test_tensorboard_profile_plugin_opens_the_trace(plain_trace):
    """The function the profile plugin calls to serve a tool's data from an `.xplane.pb`."""
    from xprof.convert.raw_to_tool_data import xspace_to_tool_data, xspace_to_tool_names

    _, trace = plain_trace
    assert "trace_viewer@" in xspace_to_tool_names([str(trace)])
    data, content_type = xspace_to_tool_data([str(trace)], "trace_viewer@", {})
    assert content_type == "application/json"
    steps = [e for e in json.loads(data)["traceEvents"] if e.get("name") == STEP_EVENT]
    assert len(steps) == 4
    mean_ms = np.mean([step["dur"] for step in steps]) / 1000  # the viewer's times are in us
    assert mean_ms == pytest.approx(profile_metrics(trace)["profile_step_time_ms"], rel=1e-3)


@pytest.mark.slow
def test_tensorboard_lists_the_trace_in_its_profile_tab(plain_trace):
    """`tensorboard --logdir <output>/profile`, as the README says, serves the trace."""
    import subprocess
    import sys
    import urllib.request

    from conftest import free_port

    def answer(path: str, timeout: float = 10):
        """TensorBoard's JSON answer to `path` (it gzips its answers)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as got:
            body = got.read()
        return json.loads(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)

    log_dir, trace = plain_trace
    port = free_port()
    board = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(log_dir), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    plugin = "/data/plugin/profile"
    try:
        runs = None
        for _ in range(120):  # TensorBoard starts in 5-10 s
            try:
                runs = answer(f"{plugin}/runs", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        assert runs == [f"train/{trace.parent.name}"]  # the run: the trace's folder
        assert "trace_viewer@" in answer(f"{plugin}/run_tools?run={runs[0]}")
        host = trace.name.removesuffix(".xplane.pb")
        viewer = answer(f"{plugin}/data?run={runs[0]}&tag=trace_viewer@&host={host}", 60)
        assert sum(e.get("name") == STEP_EVENT for e in viewer["traceEvents"]) == 4
    finally:
        board.terminate()
        board.wait(timeout=30)


def write_space(path, events):
    """Writes an XSpace whose host plane has `events`: (line timestamp ns, name, start, end) ms."""
    space = xplane_pb2.XSpace()
    plane = space.planes.add(name=HOST_PLANE)
    ids = {name: i + 1 for i, name in enumerate(dict.fromkeys(name for _, name, _, _ in events))}
    for name, id_ in ids.items():
        plane.event_metadata[id_].id, plane.event_metadata[id_].name = id_, name
    lines = {}
    for timestamp_ns, name, start, end in events:
        if timestamp_ns not in lines:
            lines[timestamp_ns] = plane.lines.add(id=len(lines), timestamp_ns=timestamp_ns)
        offset_ps = int(start * 1e9) - timestamp_ns * 1000
        lines[timestamp_ns].events.add(
            metadata_id=ids[name], offset_ps=offset_ps, duration_ps=int((end - start) * 1e9)
        )
    path.write_bytes(space.SerializeToString())
    return path


def test_input_waits_are_clipped_to_the_steps_and_counted_once(tmp_path):
    trace = write_space(
        tmp_path / "host.xplane.pb",
        [
            (0, STEP_EVENT, 0, 10),
            (0, STEP_EVENT, 20, 30),
            (1_000_000, "IteratorGetNextOp::DoCompute", 2, 6),  # a line starting at 1 ms
            (1_000_000, "IteratorGetNextOp::DoCompute", 9, 22),  # 9-10 and 20-22 in steps
            (5, "IteratorGetNextAsOptionalOp::DoCompute", 4, 8),  # with 2-6: 2-8, counted once
            (5, "ExecutorState::Process", 0, 30),  # not an input wait
        ],
    )
    assert profile_metrics(trace) == {
        "profile_step_time_ms": pytest.approx(10),
        "profile_input_wait_share": pytest.approx((6 + 1 + 2) / 20),
        "profile_steps": 2,
    }


def test_a_trace_without_training_steps_is_refused(tmp_path):
    trace = write_space(tmp_path / "host.xplane.pb", [(0, "IteratorGetNextOp::DoCompute", 0, 1)])
    with pytest.raises(RuntimeError, match="No Keras training step .`Profiled batch` event."):
        profile_metrics(trace)


def test_trace_file_is_none_without_a_trace(tmp_path):
    assert trace_file(tmp_path) is None


@pytest.mark.parametrize("start_step, steps", [(-1, 4), (0, 0)])
def test_a_window_outside_training_is_refused(start_step, steps):
    with pytest.raises(ValueError, match=f"Received: start_step={start_step}, steps={steps}"):
        profiler_callback("logs", start_step, steps)
