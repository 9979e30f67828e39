"""Which runs a sweep makes: one factor at a time, leave-one-out, or the full factorial grid.

Hydra's stock sweeper crosses every listed value (`swa=on,off smoothing=0,0.1` is 4 runs;
8 binary knobs are 256). The control-variable design runs the baseline once and one arm per
non-baseline value: 1 + sum(k_i - 1) runs (9 for 8 binary knobs), every arm paired with the
baseline by seed.

Runs are interleaved by default (`ablation.order=interleaved`): seed by seed, each seed's
arms in a shuffled order seeded by that seed, so that drift over the sweep (a warming cache,
another job on the machine, thermal throttling) spreads over every arm instead of landing on
the arms that happen to run last, which would bias their time ratios. `blocked` runs every
seed of one arm, then the next arm.

References:
    - Bouthillier et al. 2021, "Accounting for Variance in Machine Learning Benchmarks".
"""

import dataclasses
import itertools
import random

DESIGNS = ("ofat", "loo", "factorial")
ORDERS = ("interleaved", "blocked")


@dataclasses.dataclass(frozen=True)
class Arm:
    """One configuration of the sweep.

    Attributes:
        label: `baseline`, `full`, or the changed knobs as `knob=value` joined by commas.
        role: `baseline` for the reference configuration, else `arm`.
        settings: the value of every swept knob in this configuration, as override strings.
        changed: the knobs whose value differs from the reference configuration.
    """

    label: str
    role: str
    settings: dict[str, str]
    changed: tuple[str, ...]

    @property
    def factor(self) -> str:
        return ",".join(self.changed)

    @property
    def value(self) -> str:
        return ",".join(self.settings[knob] for knob in self.changed)

    def overrides(self) -> list[str]:
        """The Hydra overrides that select this configuration."""
        return [f"{knob}={value}" for knob, value in self.settings.items()]


def _label(settings: dict[str, str], changed) -> str:
    return ",".join(f"{knob}={settings[knob]}" for knob in changed)


def _ofat(knobs, baseline) -> list[Arm]:
    arms = [Arm("baseline", "baseline", dict(baseline), ())]
    for knob, values in knobs.items():
        for value in dict.fromkeys(values):
            if value != baseline[knob]:
                settings = {**baseline, knob: value}
                arms.append(Arm(_label(settings, [knob]), "arm", settings, (knob,)))
    return arms


def _full_configuration(knobs, baseline, full) -> dict[str, str]:
    settings = {}
    for knob, values in knobs.items():
        if knob in full:
            settings[knob] = str(full[knob])
            continue
        others = [v for v in dict.fromkeys(values) if v != baseline[knob]]
        if len(others) != 1:
            raise ValueError(
                f"`ablation.design=loo` needs one non-baseline value per knob to build the full "
                f"configuration. Received: {knob}={','.join(values)} (baseline "
                f"{baseline[knob]}). Declare it, e.g. ablation.full={{{knob}: {values[-1]}}}."
            )
        settings[knob] = others[0]
    return settings


def _loo(knobs, baseline, full) -> list[Arm]:
    settings = _full_configuration(knobs, baseline, full)
    arms = [Arm("full", "baseline", settings, ())]
    for knob in knobs:
        if settings[knob] != baseline[knob]:
            without = {**settings, knob: baseline[knob]}
            arms.append(Arm(_label(without, [knob]), "arm", without, (knob,)))
    return arms


def _factorial(knobs, baseline) -> list[Arm]:
    grids = [list(dict.fromkeys([baseline[k], *values])) for k, values in knobs.items()]
    arms = []
    for combination in itertools.product(*grids):
        settings = dict(zip(knobs, combination, strict=True))
        changed = tuple(k for k in knobs if settings[k] != baseline[k])
        if changed:
            arms.append(Arm(_label(settings, changed), "arm", settings, changed))
        else:
            arms.insert(0, Arm("baseline", "baseline", settings, ()))
    return arms


def make_plan(
    knobs: dict[str, list[str]],
    baseline: dict[str, str],
    design: str = "ofat",
    full: dict | None = None,
) -> list[Arm]:
    """Lists the configurations of a sweep, the reference configuration first.

    Args:
        knobs: each swept knob and its listed values, as override strings.
        baseline: each knob's baseline value, spelled as in `knobs` when it is listed.
        design: `ofat` (one factor at a time against the baseline), `loo` (leave one out
            from the full configuration) or `factorial` (the full grid). Defaults to `ofat`.
        full: for `loo`, the full configuration's value of some knobs; the others use their
            single non-baseline value. Defaults to none.

    Returns:
        The `Arm`s; a listed value equal to the baseline is not run twice.

    Raises:
        ValueError: for an unknown design, a `loo` full configuration that is ambiguous, or
            a knob that gives no arm (listed with its baseline value only, and not in `full`).

    Example:

    >>> [a.label for a in make_plan({"swa": ["on", "off"], "smoothing": ["0.0", "0.1"]},
    ...                             {"swa": "off", "smoothing": "0.0"})]
    ['baseline', 'swa=on', 'smoothing=0.1']
    """
    full = full or {}
    for knob, values in knobs.items():
        if all(value == baseline[knob] for value in values) and knob not in full:
            raise ValueError(
                f"`{knob}` must list a value other than its baseline, or it gives no arm. "
                f"Received: {knob}={','.join(values)} (baseline {knob}={baseline[knob]}). "
                f"List the value to compare with it: {knob}={baseline[knob]},<value>."
            )
    if design == "ofat":
        return _ofat(knobs, baseline)
    if design == "loo":
        arms = _loo(knobs, baseline, full)
        if knobs and len(arms) == 1:
            values = ", ".join(f"{knob}={baseline[knob]}" for knob in knobs)
            raise ValueError(
                "`ablation.full` must differ from the baseline in a swept knob, or leaving one "
                f"out gives no arm. Received: ablation.full={full} (baseline {values}). Set "
                "the full configuration's values in ablation.full."
            )
        return arms
    if design == "factorial":
        return _factorial(knobs, baseline)
    raise ValueError(
        f"`ablation.design` must be one of {list(DESIGNS)}. Received: ablation.design={design}"
    )


def paired_runs(
    arms: list[Arm], seeds: list[int], order: str = "interleaved"
) -> list[tuple[Arm, int]]:
    """Every arm with every seed, in run order: replicate i uses seed i in every arm.

    Args:
        arms: the configurations, the reference first.
        seeds: the paired seeds.
        order: `interleaved` (seed by seed; within a seed the arms, the reference included,
            in an order shuffled by `random.Random(seed)`, so the same seeds always give the
            same order) or `blocked` (all seeds of one arm, then the next). Defaults to
            `interleaved`.

    Returns:
        `(arm, seed)` in the order the sweeper launches them.

    Raises:
        ValueError: for an unknown order.

    Example:

    >>> arms = make_plan({"swa": ["on"]}, {"swa": "off"})
    >>> [(a.label, s) for a, s in paired_runs(arms, [0, 1], "blocked")]
    [('baseline', 0), ('baseline', 1), ('swa=on', 0), ('swa=on', 1)]
    """
    if order == "blocked":
        return [(arm, seed) for arm in arms for seed in seeds]
    if order != "interleaved":
        raise ValueError(
            f"`ablation.order` must be one of {list(ORDERS)}. Received: ablation.order={order}"
        )
    runs = []
    for seed in seeds:
        shuffled = list(arms)
        random.Random(seed).shuffle(shuffled)
        runs += [(arm, seed) for arm in shuffled]
    return runs


def format_order(arms: list[Arm], seeds: list[int], order: str = "interleaved") -> str:
    """The run order of `paired_runs` as plan text: one line per seed, or one for `blocked`."""
    if order == "blocked":
        return (
            "Run order: blocked (every seed of one arm, then the next arm; time ratios are "
            "confounded with run order)."
        )
    runs = paired_runs(arms, seeds, order)
    lines = ["Run order: interleaved, seed by seed, arms shuffled by `random.Random(seed)`:"]
    for seed in seeds:
        labels = [arm.label for arm, other in runs if other == seed]
        lines.append(f"- seed {seed}: {', '.join(labels)}")
    return "\n".join(lines)


def format_plan(
    details, seeds: list[int], design: str, estimates: dict, order: str = "interleaved"
) -> str:
    """The pre-flight plan: arms, keys they change, runs, estimated time, and the run order.

    Args:
        details: `(arm, config_hash, changed_keys)` per arm.
        seeds: the paired seeds.
        design: the design's name.
        estimates: mean seconds per run of each config hash, or None when unknown.
        order: the run order, as in `paired_runs`. Defaults to `interleaved`.

    Returns:
        The plan text (markdown).
    """
    lines = [
        f"Ablation plan ({design}, {len(details)} configurations x {len(seeds)} seed(s) "
        f"{seeds} = {len(details) * len(seeds)} runs)",
        "",
        "| arm | role | keys changed vs the reference | runs | est. time |",
        "|---|---|---|---|---|",
    ]
    known, total = 0, 0.0
    for arm, arm_hash, changed in details:
        seconds = estimates.get(arm_hash)
        if seconds is not None:
            known += 1
            total += seconds * len(seeds)
        estimate = f"{seconds * len(seeds):.0f} s" if seconds is not None else "unknown"
        keys = ", ".join(changed) or "-"
        lines.append(f"| {arm.label} | {arm.role} | {keys} | {len(seeds)} | {estimate} |")
    if known:
        lines += [
            "",
            f"Estimated wall time: {total:.0f} s for the {known} configuration(s) "
            f"with finished runs in the store (sequential).",
        ]
    else:
        lines += ["", "Estimated wall time: unknown (no finished run of these configurations yet)."]
    lines += ["", format_order([arm for arm, _, _ in details], seeds, order)]
    return "\n".join(lines)
