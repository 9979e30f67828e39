"""`hydra/sweeper=ablate`: the control-variable sweeper.

`python -m ablate -m swa=on,off smoothing=0,0.1` runs the baseline once and one arm per
non-baseline value (`ablation.design=ofat`; also `loo` and `factorial`), every arm with the
same `ablation.seeds` seeds as the baseline. Before anything trains it composes and validates
every arm, checks that each differs from the baseline only in the keys it declares (the
confound guard), and prints the plan. Jobs run seed by seed, each seed's arms in a seeded
shuffled order printed in the plan (`ablation.order=interleaved`; `blocked` runs arm by arm),
so drift during the sweep does not bias the arms' time ratios. Runs are children of one
MLflow parent run; running the same command again resumes: FINISHED runs are skipped, FAILED
and KILLED ones rerun.
`hydra/sweeper=basic` restores Hydra's Cartesian product.
"""

import contextlib
import hashlib
import importlib
import json
import signal
import sys
import time
import uuid
from pathlib import Path

from hydra.core.utils import JobStatus
from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig, OmegaConf

from ablate.preflight import check_shared_store
from hydra_plugins.ablate_sweeper.sweep_arguments import (
    baseline_values,
    no_arm_error,
    split_overrides,
)
from hydra_plugins.ablate_sweeper.sweep_records import (
    record_decisions,
    restore_reused,
    restore_skipped,
    reusable_runs,
)

SWEEP_RECORD = "sweep.json"
ADAPTIVE_KNOBS = (
    "seed",
    "ablation.seeds",
    "ablation.max_seeds",
    "ablation.min_seeds",
    "ablation.seeds_per_round",
    "ablation.budget_s",
)


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _first_store_error(record: dict) -> str:
    """The first error a run of the sweep got from its store (its upload marker), else the
    parent run's."""
    from ablate.run_files import UPLOAD_MARKER

    for folder in record["not_uploaded"]:
        return json.loads((Path(folder) / UPLOAD_MARKER).read_text())["reason"]
    return record.get("tracking_error", "no answer")


def _order(ablation: DictConfig) -> str:
    """`ablation.order`: the run order of `ablate.sweep.plan.paired_runs`."""
    return OmegaConf.select(ablation, "order", default="interleaved")


def _job_config(resolved_with_hydra: DictConfig) -> dict:
    return OmegaConf.to_container(
        OmegaConf.masked_copy(
            resolved_with_hydra, [k for k in resolved_with_hydra if k != "hydra"]
        ),
        resolve=True,
    )


class AblateSweeper(Sweeper):
    """Runs a baseline-relative ablation as Hydra jobs.

    Args:
        max_batch_size: jobs handed to the launcher at once (null: all). Defaults to null.
        params: sweeps declared in a config (an experiment file), as `{knob: "a,b"}`; the
            command line's overrides come after them. Defaults to none.
    """

    def __init__(self, max_batch_size: int | None = None, params: dict | None = None):
        self.max_batch_size = max_batch_size
        self.params = dict(params or {})
        self.hydra_context = None
        self.config = None
        self.launcher = None
        self._state = None  # what an interrupt must close: store, parent run, folder, record
        self._reusable_runs = {}  # (arm label, seed) -> a FINISHED run with the same identity

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        if hasattr(self.launcher, "warm"):  # workers import TensorFlow while the sweep plans
            self.launcher.warm(self.launcher.workers)

    def _compose(self, overrides: list[str], received: list[str] | None = None) -> DictConfig:
        """Composes a job's config; a Hydra error becomes one line, naming an override as in
        `received` (the command line's spelling; defaults to `overrides`)."""
        from hydra.errors import HydraException
        from omegaconf.errors import OmegaConfBaseException

        from ablate.errors import InputError
        from ablate.preflight import hydra_error_message

        try:
            return self.hydra_context.config_loader.load_sweep_config(
                master_config=self.config, sweep_overrides=list(overrides)
            )
        except (HydraException, OmegaConfBaseException) as error:  # one line, as for one run
            raise InputError(hydra_error_message(error, list(received or overrides))) from None

    def sweep(self, arguments: list[str]):
        from ablate.errors import InputError
        from ablate.interrupts import interruptible

        try:
            with interruptible():
                try:
                    return self._sweep(arguments)
                finally:
                    if hasattr(self.launcher, "close"):
                        self.launcher.close()
        except InputError as error:
            print(f"ablate: error: {error}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt as interrupt:
            signal_name = str(interrupt) or "SIGINT"
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # a second Ctrl-C ends it at once
            print(f"ablate: {self._stop(signal_name)}", file=sys.stderr)
            sys.exit(128 + signal.Signals[signal_name].value)

    def _stop(self, signal_name: str) -> str:
        """Closes an interrupted sweep: unstarted runs and the parent KILLED, the report of
        what finished written; returns the one line that says so."""
        state = self._state
        if state is None:  # interrupted before anything was recorded
            return f"interrupted by {signal_name} before any run started; nothing recorded."
        store, parent_run_id, sweep_dir = state["store"], state["parent"], state["dir"]
        if store is not None:
            store.kill_stale(store.children(parent_run_id))
            store.close_parent(parent_run_id, "KILLED")
        record = {**state["record"], "interrupted": signal_name}
        (sweep_dir / SWEEP_RECORD).write_text(json.dumps(record, indent=2))
        from ablate.report import runs_from_dir

        try:
            finished = int((runs_from_dir(sweep_dir)["status"] == "FINISHED").sum())
        except Exception:  # no run wrote its files yet
            finished = 0
        where = "no report (no finished run)"
        if finished and self.config.ablation.report:
            from ablate.sweep.callback import report_sweep

            try:
                report_sweep(sweep_dir, record["tracking_uri"], parent_run_id)
                where = f"report of the finished runs: {sweep_dir}/report.md"
            except Exception as error:  # e.g. no finished baseline yet
                where = f"no report ({type(error).__name__}: {' '.join(str(error).split())})"
        total = record["launched"] + record["skipped"] + record["reused"]
        return (
            f"sweep {record['sweep_id']} interrupted by {signal_name}: {finished} of {total} "
            f"run(s) finished, the others and the parent run recorded KILLED; {where}."
        )

    def _sweep(self, arguments: list[str]):
        from ablate.config import check_knob, config_hash, validate
        from ablate.errors import InputError
        from ablate.preflight import check_output_folder, check_tracking_folder
        from ablate.sweep.guard import allowed_prefixes, unexpected_differences
        from ablate.sweep.plan import format_plan, make_plan, paired_runs
        from ablate.validation import check_seeds, max_seeds_of

        problem = self.launcher.problem() if hasattr(self.launcher, "problem") else None
        if problem:
            raise InputError(problem)
        declared = [f"{knob}={values}" for knob, values in self.params.items()]
        plain, knobs = split_overrides(self.hydra_context.config_loader, declared + list(arguments))
        base = self._compose(plain)
        if getattr(self.launcher, "remote", False):
            check_shared_store(base.tracking)
        ablation = base.ablation
        for key in ADAPTIVE_KNOBS:
            check_knob(key, OmegaConf.select(base, key))
        check_seeds(base.seed, ablation.seeds, ablation.max_seeds, ablation.min_seeds)
        adaptive = ablation.seeds == "auto"
        if adaptive and ablation.design == "factorial":
            raise InputError(
                "ablation.seeds=auto decides each arm against the baseline; the factorial "
                "design's verdicts are main effects over the whole grid. Received: "
                "ablation.seeds=auto with ablation.design=factorial. Use design=ofat or loo, "
                "or a fixed ablation.seeds."
            )
        baseline = baseline_values(base, knobs)
        count = max_seeds_of(ablation.seeds, ablation.max_seeds) if adaptive else ablation.seeds
        seeds = [base.seed + i for i in range(count)]
        try:
            arms = make_plan(
                knobs, baseline, ablation.design, OmegaConf.to_container(ablation.full)
            )
            paired_runs(arms, seeds, _order(ablation))  # an unknown order fails here
        except ValueError as error:
            raise InputError(str(error)) from None
        if not knobs and ablation.seeds in (1, "auto"):  # the baseline alone: no comparison
            raise no_arm_error(plain, self._compose)

        reference = None
        configs = {}  # arm label -> its resolved job config
        details = []  # (arm, config hash, changed keys)
        listed = [f"{knob}={','.join(values)}" for knob, values in knobs.items()]
        for arm in arms:
            composed = self._compose(plain + arm.overrides(), received=plain + listed)
            job = _job_config(composed)
            try:
                validate(OmegaConf.create(job))
            except InputError as error:
                raise InputError(f"arm {arm.label}: {error}") from None
            if reference is None:
                reference = job
            prefixes = [
                p
                for knob in arm.settings
                for p in allowed_prefixes(knob, OmegaConf.to_container(ablation.declared))
            ]
            unexpected = unexpected_differences(reference, job, prefixes)
            if unexpected:
                raise InputError(
                    f"arm {arm.label} changes keys it does not declare, so its delta would mix "
                    f"causes: {'; '.join(unexpected)}. Received: {arm.label}. Make the option "
                    "change only its own node, or declare the keys in ablation.declared."
                )
            changed = [d.split(":")[0] for d in unexpected_differences(reference, job, [])]
            details.append((arm, config_hash(job), changed))
            configs[arm.label] = job

        check_output_folder("hydra.sweep.dir", self.config.hydra.sweep.dir)
        check_tracking_folder(base.tracking)
        store = self._open_store(base)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        estimates = {h: store.mean_duration_s(h) if store else None for _, h, _ in details}
        first = seeds[: ablation.min_seeds] if adaptive else seeds
        plan_text = format_plan(details, first, ablation.design, estimates, _order(ablation))
        if adaptive:
            plan_text += (
                f"\n\nAdaptive seeding (ablation.seeds=auto): the first round is the plan "
                f"above; then {ablation.seeds_per_round} paired seed(s) per round for each arm "
                f"whose group-sequential verdict is open (and the baseline), up to {count} "
                f"seeds per arm ({len(details) * count} runs at most)"
                + (f", within {ablation.budget_s:g} s." if ablation.budget_s else ".")
            )
        reusable = reusable_runs(store, configs, seeds) if ablation.reuse else {}
        plan_text += (
            f"\n\nReuse: {len(reusable)} of {len(details) * len(seeds)} run(s) have a FINISHED run "
            "with the same identity in the store (config, seed, data, versions) and are not "
            "trained again" + ("." if ablation.reuse else " (ablation.reuse=false: none reused).")
        )
        if hasattr(self.launcher, "describe"):
            plan_text += f"\n\nLauncher: {self.launcher.describe()}"
        print(plan_text)
        if ablation.dry_run:
            print("ablation.dry_run=true: nothing was run.")
            return []
        unavailable = getattr(self.launcher, "unavailable", lambda: None)()
        if unavailable:  # e.g. no SLURM on this machine: found before the parent run exists
            raise InputError(unavailable)
        self._reusable_runs = reusable
        return self._run(base, plain, details, seeds, store, sweep_dir, plan_text)

    def _open_store(self, base: DictConfig):
        if base.tracking.backend != "mlflow":
            return None
        from ablate.sweep_store import SweepStore

        return SweepStore(base.tracking)

    def _run(self, base, plain, details, seeds, store, sweep_dir, plan_text):
        from ablate.config import config_hash
        from ablate.errors import InputError
        from ablate.sweep.plan import paired_runs
        from ablate.tracking import CONFIG_HASH_TAG, SEED_TAG, sweep_tag

        ablation = base.ablation
        key_material = json.dumps(
            [
                ablation.design,
                seeds,
                [(arm.label, h) for arm, h, _ in details],
                config_hash(_job_config(base)),
            ]
            + ([ablation.min_seeds, ablation.seeds_per_round] if ablation.seeds == "auto" else [])
        )
        sweep_key = hashlib.sha256(key_material.encode()).hexdigest()[:16]
        if not ablation.resume:
            sweep_key += "-" + uuid.uuid4().hex[:8]
        sweep_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{sweep_key[:6]}"
        parent_run_id, finished = None, {}
        if store is not None:
            try:
                parent_run_id, sweep_id = store.open_parent(
                    sweep_key, sweep_id, {sweep_tag("design"): ablation.design}
                )
            except RuntimeError as error:
                raise InputError(str(error)) from None
            store.log_text(parent_run_id, plan_text, "plan.md")
            children = store.children(parent_run_id)
            killed = store.kill_stale(children)
            if killed:
                print(f"Marked {killed} stale run(s) of sweep {sweep_id} as KILLED.")
            finished = {
                (r.data.tags.get(CONFIG_HASH_TAG), r.data.tags.get(SEED_TAG)): r
                for r in children
                if r.info.status == "FINISHED"
            }
            store.supersede([r for r in children if r.info.status != "FINISHED"])

        arms = [arm for arm, _, _ in details]
        sweep = {
            "id": sweep_id,
            "parent": parent_run_id,
            "store": store,
            "dir": sweep_dir,
            "finished": finished,
            "hashes": {arm.label: arm_hash for arm, arm_hash, _ in details},
            "plain": plain,
            "ablation": ablation,
        }
        record = {
            "sweep_id": sweep_id,
            "parent_run_id": parent_run_id,
            "tracking_uri": store.uri if store else None,
            "launched": 0,
            "skipped": 0,
            "reused": 0,
            "failed": [],
        }
        self._state = {"store": store, "parent": parent_run_id, "dir": sweep_dir, "record": record}
        if store is not None and hasattr(self.launcher, "launch_guard"):
            self.launcher.launch_guard = store.unanswered  # a dead server: start no more jobs
        if base.ablation.report:  # its imports (1.5 s) while the workers warm up
            importlib.import_module("ablate.report")

        adaptive = None
        if ablation.seeds == "auto":
            from ablate.sweep.adaptive import AdaptiveSeeding

            adaptive = AdaptiveSeeding(
                arms,
                base.seed,
                ablation.min_seeds,
                ablation.seeds_per_round,
                len(seeds),
                ablation.budget_s,
                _order(ablation),
            )
            planned = adaptive.first_round()
        else:  # seed by seed, arms shuffled per seed (the order in the plan), unless blocked
            planned = paired_runs(arms, seeds, _order(ablation))
        returns, started, launched = [], time.monotonic(), 0
        while planned:
            jobs, labels = self._jobs(planned, sweep, record)
            returns += self._launch(jobs, labels, store, record, first_index=launched)
            launched += len(jobs)
            if adaptive is None:
                break
            elapsed = time.monotonic() - started
            planned = adaptive.next_round(sweep_dir, elapsed, elapsed / max(launched, 1))
        if adaptive is not None:
            record_decisions(adaptive, store, parent_run_id, sweep_dir, record)
        failures = record["failed"]

        record["parent_status"] = "FAILED" if failures else "FINISHED"
        from ablate.run_files import UPLOAD_MARKER

        record["not_uploaded"] = sorted(
            str(marker.parent) for marker in sweep_dir.glob(f"*/{UPLOAD_MARKER}")
        )
        if store is not None:
            try:
                store.close_parent(parent_run_id, record["parent_status"])
                record["parent_closed"] = True
            except Exception as error:  # the store went away during the sweep
                record["parent_closed"] = False
                record["tracking_error"] = " ".join(str(error).split())[:300]
        self._state = None
        (sweep_dir / SWEEP_RECORD).write_text(json.dumps(record, indent=2))
        print(
            f"Sweep {sweep_id}: {record['launched'] - len(failures)} finished, "
            f"{len(failures)} failed, {record['skipped']} skipped (already finished)."
        )
        for failure in record["failed"]:
            print(f"  FAILED {failure['arm']} seed={failure['seed']}: {failure['error']}")
        if store is not None and record.get("parent_closed"):
            from ablate.tracking import runs_table_link

            print(f"Runs in the MLflow UI: {runs_table_link(store.uri, store.experiment_id)}")
        if record["not_uploaded"] or record.get("parent_closed") is False:
            print(
                f"ablate: the tracking store {store.uri} stopped answering "
                f"({_first_store_error(record)}): {len(record['not_uploaded'])} run(s) are kept "
                f"in their folders only; once it is back, run `python -m ablate.upload "
                f"{sweep_dir}`, then rerun this command for the runs that could not start.",
                file=sys.stderr,
            )
        return returns

    def _jobs(self, planned, sweep: dict, record: dict) -> tuple[list, list]:
        """The jobs of `planned` `(arm, seed)` runs, in order; runs FINISHED in this sweep are
        skipped and identical runs of the store reused (files restored), the others claimed.

        Returns:
            `(jobs, labels)`: each job's overrides, and its `(arm label, seed, claimed run)`.
        """
        from ablate.tracking import CONFIG_HASH_TAG, SEED_TAG, SWEEP_ID_TAG, sweep_tag

        store, ablation, sweep_id = sweep["store"], sweep["ablation"], sweep["id"]
        jobs, labels, skipped, reused = [], [], [], []
        for arm, seed in planned:
            arm_hash = sweep["hashes"][arm.label]
            done = sweep["finished"].get((arm_hash, str(seed)))
            if done is not None:
                skipped.append(done)
                continue
            source = self._reusable_runs.get((arm.label, seed))
            if source is not None:  # the same experiment finished before: copy, do not train
                tags = {
                    SWEEP_ID_TAG: sweep_id,
                    **{sweep_tag(k): v for k, v in self._sweep_tags(arm, ablation).items()},
                }
                reused_id = store.reuse(sweep["parent"], source, f"{arm.label} seed={seed}", tags)
                restore_reused(store, source.info.run_id, reused_id, tags, sweep["dir"])
                reused.append(reused_id)
                continue
            claimed = None
            if store is not None:
                claimed = store.claim(
                    sweep["parent"],
                    f"{arm.label} seed={seed}",
                    {
                        CONFIG_HASH_TAG: arm_hash,
                        SEED_TAG: str(seed),
                        SWEEP_ID_TAG: sweep_id,
                        sweep_tag("arm"): arm.label,
                        sweep_tag("role"): arm.role,
                    },
                )
            labels.append((arm.label, seed, claimed))
            jobs.append(
                sweep["plain"]
                + arm.overrides()
                + [
                    f"seed={seed}",
                    *([f"tracking.uri={_quoted(store.uri)}"] if store is not None else []),
                    f"ablation.sweep_id={sweep_id}",
                    f"ablation.parent_run_id={sweep['parent'] or 'null'}",
                    f"ablation.run_id={claimed or 'null'}",
                    f"ablation.arm={_quoted(arm.label)}",
                    f"ablation.role={arm.role}",
                    f"ablation.factor={_quoted(arm.factor)}",
                    f"ablation.value={_quoted(arm.value)}",
                    f"ablation.knobs={_quoted(json.dumps(arm.settings))}",
                ]
            )
        if skipped:
            print(f"Resuming sweep {sweep_id}: skipping {len(skipped)} run(s) already FINISHED.")
            restore_skipped(store, skipped, sweep["dir"])
        if reused:
            print(f"Sweep {sweep_id}: reused {len(reused)} finished run(s) (ablate.reused_from).")
        print(f"Sweep {sweep_id}: {len(jobs)} run(s) to launch.")
        record["launched"] += len(jobs)
        record["skipped"] += len(skipped)
        record["reused"] += len(reused)
        return jobs, labels

    def _launch(self, jobs, labels, store, record: dict, first_index: int) -> list:
        """Hands the jobs to the launcher, `max_batch_size` at a time; records the failed
        ones (and closes the claimed run of a job whose process died)."""
        returns = []
        size = self.max_batch_size or len(jobs) or 1
        for start in range(0, len(jobs), size):
            batch = jobs[start : start + size]
            self.validate_batch_is_legal(batch)
            results = self.launcher.launch(batch, initial_job_idx=first_index + start)
            for (label, seed, claimed), result in zip(
                labels[start : start + size], results, strict=True
            ):
                if result.status == JobStatus.FAILED:
                    error = f"{type(result._return_value).__name__}: {result._return_value}"
                    record["failed"].append({"arm": label, "seed": seed, "error": error})
                    if claimed:  # a job whose process died could not close its run
                        with contextlib.suppress(Exception):  # a dead store: a rerun kills it
                            store.fail_unfinished(claimed, error)
            returns.append(results)
        return returns

    @staticmethod
    def _sweep_tags(arm, ablation) -> dict[str, str]:
        """The sweep facts of an arm's runs, as `ablate.<key>` tag values."""
        return {
            "arm": arm.label,
            "role": arm.role,
            "factor": arm.factor,
            "value": arm.value,
            "design": ablation.design,
            "seeds": str(ablation.seeds),
            "knobs": json.dumps(arm.settings),
        }
