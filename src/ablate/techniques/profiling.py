"""A TensorBoard profiler trace of a window of training steps, and the step time read back.

`profiler_callback` is Keras' own `keras.callbacks.TensorBoard` with `profile_batch` set to
the window and everything else it can write switched off (no graph, no histograms, scalars
per epoch; Keras still writes a small `batch_<last step>` summary as the window closes). It
writes the trace of the window's steps to

    <log_dir>/train/plugins/profile/<YYYY_MM_DD_HH_MM_SS>/<host>.xplane.pb

and ablate passes `log_dir = <output_dir>/profile` (`PROFILE_FOLDER`). To look at it:
`tensorboard --logdir <output_dir>/profile`, then the PROFILE tab (trace viewer, framework op
stats, memory profile); it needs the `tensorboard-plugin-profile` package.

How Keras 3 (3.15) counts the window: `profile_batch=(a, b)` counts calls of the train
function over the whole `fit`, from 1, across epochs (`_global_train_batch`, reset only at
`on_train_begin`), and profiles calls a to b inclusive. So `profiler_callback(log_dir,
start_step, steps)` profiles steps `start_step + 1` to `start_step + steps`: with 20 batches
per epoch, `start_step=18, steps=4` profiles the last two batches of epoch 1 and the first
two of epoch 2 (the validation in between runs outside the steps). A step is one batch in
ablate; under `steps_per_execution=k` it would be one call of k batches. A window that ends
after training is cut at the end of training; one that starts after it writes no trace.

Why the metrics are read from the trace by hand: xprof's own analyses (`overview_page`,
`input_pipeline_analyzer`, tensorboard-plugin-profile 2.24) report no step time for a Keras 3
`fit` ("No step time measured. Therefore we cannot tell where the performance bottleneck
is."): they find steps by TraceMe events marked as step roots (`_r=1`; a callback adding
one made `input_pipeline_analyzer` report 1.3 ms per step), and Keras marks its steps with a
plain `tf.profiler.experimental.Trace("Profiled batch", step_num=batch)`. So
`profile_metrics` parses the XSpace protobuf itself, from the host plane (`/host:CPU`):

- a step is a `Profiled batch` event, from the TensorBoard callback's `on_train_batch_begin`
  to its `on_train_batch_end`: the train function, with `next()` on the input iterator, plus
  the batch hooks of the callbacks that run in between. Its `step_num` is Keras' batch index
  within the epoch, from 0. Because the TensorBoard callback has a batch-end hook, Keras
  converts each batch's logs to Python numbers before calling it (no asynchronous dispatch,
  `keras/src/callbacks/callback_list.py`), so on a GPU the step also waits for the device;
- the input wait is the time inside the steps during which a `tf.data` iterator's
  `IteratorGetNextOp::DoCompute` (or, under `steps_per_execution`, `IteratorGetNextAsOptionalOp
  ::DoCompute`) is running: the train step is blocked on its next batch. There can be more
  than one per step (`MirroredStrategy` on 2 devices: one per replica), on other threads: the
  wait is the union of their intervals, clipped to the steps, so overlapping waits count once.

Measured on 2 CPU cores (a small convnet, 32 images of 8x8 per batch, 40 steps in 2 epochs):
in-memory NumPy data waits 2-8 % of a 1.2-3 ms step (also with two busy processes beside);
a `tf.data` map sleeping 20 ms per batch waits 86-94 % of a 21 ms step. Profiling 4 of the 40
steps made the `fit` 0.1 s longer (median 0.45 s against 0.36 s; 0.38 s with the TensorBoard
callback but no profiling): the profiler's start and stop and the writing of the trace.
"""

from pathlib import Path

import keras
from tensorflow.tsl.profiler.protobuf import xplane_pb2

PROFILE_FOLDER = "profile"
HOST_PLANE = "/host:CPU"
STEP_EVENT = "Profiled batch"
INPUT_WAIT_EVENTS = ("IteratorGetNextOp::DoCompute", "IteratorGetNextAsOptionalOp::DoCompute")


def profiler_callback(log_dir: Path, start_step: int, steps: int) -> keras.callbacks.TensorBoard:
    """Keras' TensorBoard callback, writing a profiler trace of `steps` training steps.

    Steps are counted from 1 over the whole `fit`, across epochs, as Keras' `profile_batch`
    counts them: the window is steps `start_step + 1` to `start_step + steps`. The callback
    writes no graph and no histograms, and the scalars once per epoch.

    Args:
        log_dir: the folder to write into (ablate: `<output_dir>/profile`).
        start_step: the steps trained before the window, >= 0.
        steps: the steps profiled, >= 1.

    Returns:
        A `keras.callbacks.TensorBoard` for `fit(callbacks=...)`.

    Raises:
        ValueError: if `start_step` < 0 or `steps` < 1.

    Example:

    >>> callback = profiler_callback(output_dir / PROFILE_FOLDER, start_step=10, steps=5)
    >>> model.fit(data, epochs=2, callbacks=[callback])  # profiles steps 11 to 15
    """
    if start_step < 0 or steps < 1:
        raise ValueError(
            "`start_step` must be >= 0 and `steps` >= 1. "
            f"Received: start_step={start_step}, steps={steps}"
        )
    return keras.callbacks.TensorBoard(
        log_dir=str(log_dir),
        histogram_freq=0,
        write_graph=False,
        update_freq="epoch",
        profile_batch=(start_step + 1, start_step + steps),
    )


def trace_file(log_dir: Path) -> Path | None:
    """The newest `.xplane.pb` that `profiler_callback(log_dir, ...)` wrote, or None."""
    traces = Path(log_dir).glob("train/plugins/profile/*/*.xplane.pb")
    return max(traces, key=lambda path: (path.stat().st_mtime_ns, path), default=None)


def profile_metrics(trace: Path) -> dict[str, float]:
    """The mean step time and the share of it spent waiting for input, from a trace.

    Args:
        trace: an `.xplane.pb` written by `profiler_callback` (see `trace_file`).

    Returns:
        `profile_step_time_ms`: the mean wall time of a profiled step, in milliseconds;
        `profile_input_wait_share`: the share of the steps' time during which the step waited
        for its input iterator, in [0, 1]; `profile_steps`: the number of steps in the trace.

    Raises:
        RuntimeError: if the trace holds no Keras training step (no `Profiled batch` event on
            the host plane): it was not written by a Keras TensorBoard callback in `fit`.

    Example:

    >>> profile_metrics(trace_file(output_dir / PROFILE_FOLDER))
    {'profile_step_time_ms': 1.3, 'profile_input_wait_share': 0.03, 'profile_steps': 4}
    """
    plane = _host_plane(trace)
    steps = _intervals(plane, (STEP_EVENT,))
    if not steps:
        raise RuntimeError(
            f"No Keras training step (`{STEP_EVENT}` event) in the profiler trace {trace}: "
            "it should come from `profiler_callback` in a `fit`."
        )
    waits = _union(_intervals(plane, INPUT_WAIT_EVENTS))
    step_time = sum(end - start for start, end in steps)
    wait_time = sum(_overlap(waits, start, end) for start, end in steps)
    return {
        "profile_step_time_ms": step_time / len(steps) / 1e9,
        "profile_input_wait_share": wait_time / step_time,
        "profile_steps": len(steps),
    }


def _host_plane(trace: Path) -> xplane_pb2.XPlane:
    """The host plane (`/host:CPU`) of the XSpace in `trace`, or an empty plane if none."""
    space = xplane_pb2.XSpace()
    space.ParseFromString(Path(trace).read_bytes())
    return next((plane for plane in space.planes if plane.name == HOST_PLANE), xplane_pb2.XPlane())


def _intervals(plane: xplane_pb2.XPlane, names: tuple[str, ...]) -> list[tuple[int, int]]:
    """The (start, end) times, in picoseconds, of the events of `plane` named one of `names`."""
    ids = {id_ for id_, metadata in plane.event_metadata.items() if metadata.name in names}
    intervals = []
    for line in plane.lines:
        for event in line.events:
            if event.metadata_id in ids:
                start = line.timestamp_ns * 1000 + event.offset_ps
                intervals.append((start, start + event.duration_ps))
    return intervals


def _union(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of `intervals`, as sorted disjoint intervals."""
    merged = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _overlap(disjoint: list[tuple[int, int]], start: int, end: int) -> int:
    """How much of [start, end] the disjoint intervals `disjoint` cover."""
    return sum(max(0, min(end, right) - max(start, left)) for left, right in disjoint)
