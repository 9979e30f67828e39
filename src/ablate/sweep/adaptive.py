"""`ablation.seeds=auto`: paired seeds in rounds, only for the arms whose verdict is open.

The first round runs `ablation.min_seeds` paired seeds of every arm. After each round the
sweeper reads the finished runs back from the sweep folder and asks the group-sequential
verdicts (`ablate.report.sequential`, valid however often it looks) which arms are decided;
the open ones get `ablation.seeds_per_round` more paired seeds (and the baseline those seeds
too), up to `ablation.max_seeds`. With `ablation.budget_s`, no round starts that would end
after the budget by the mean run time so far; the open arms then take their final look.
"""

from pathlib import Path

import pandas as pd

from ablate.sweep.plan import Arm, paired_runs

METRIC = "test_accuracy"


class AdaptiveSeeding:
    """Plans the rounds of an adaptive sweep and records why each arm stopped.

    Args:
        arms: the sweep's configurations, the reference first.
        first_seed: the sweep's first seed (`seed`); seeds are `first_seed, first_seed + 1, ...`.
        min_seeds: paired seeds of the first round.
        seeds_per_round: paired seeds added per round to each open arm.
        max_seeds: the most paired seeds an arm gets.
        budget_s: wall-clock seconds for the whole sweep, or None.
        order: the run order within a round (`interleaved` or `blocked`).
    """

    def __init__(
        self,
        arms: list[Arm],
        first_seed: int,
        min_seeds: int,
        seeds_per_round: int,
        max_seeds: int,
        budget_s: float | None,
        order: str,
    ):
        self.arms, self.first_seed, self.order = arms, first_seed, order
        self.min_seeds, self.step, self.max_seeds = min_seeds, seeds_per_round, max_seeds
        self.budget_s = budget_s
        self.given: dict[str, int] = {}  # arm label -> paired seeds planned so far
        self.decisions: pd.DataFrame | None = None

    def first_round(self) -> list[tuple[Arm, int]]:
        """`(arm, seed)` of the first round: `min_seeds` seeds of every arm."""
        self.given = {arm.label: self.min_seeds for arm in self.arms}
        seeds = [self.first_seed + i for i in range(self.min_seeds)]
        return paired_runs(self.arms, seeds, self.order)

    def next_round(
        self, sweep_dir: Path, elapsed_s: float, seconds_per_run: float
    ) -> list[tuple[Arm, int]]:
        """Decides the arms on the runs finished so far; returns the next round's runs.

        Args:
            sweep_dir: the sweep's folder, where every run wrote its `metrics.json`.
            elapsed_s: wall-clock seconds since the sweep started.
            seconds_per_run: the mean wall-clock seconds of a run so far.

        Returns:
            `(arm, seed)` to run next; empty when every arm has stopped.
        """
        from ablate.report import runs_from_dir
        from ablate.report.sequential import next_seeds, sequential_decisions
        from ablate.report.stats import pairs

        frame = runs_from_dir(sweep_dir)
        treated = [arm for arm in self.arms if arm.role != "baseline"]
        differences = {
            arm.label: pairs(frame, METRIC, arm.label)["difference"].tolist() for arm in treated
        }
        decide = dict(min_seeds=self.min_seeds, max_seeds=self.max_seeds, step=self.step)
        self.decisions = sequential_decisions(differences, **decide)
        more = next_seeds(self.decisions)
        runs = sum(more.values()) + max(more.values(), default=0)  # the arms and the baseline
        if more and self.budget_s and elapsed_s + runs * seconds_per_run > self.budget_s:
            self.decisions = sequential_decisions(differences, **decide, final=True)
            return []
        wanted = set()  # (arm label, seed)
        for arm in treated:
            extra = min(more.get(arm.label, 0), self.max_seeds - self.given[arm.label])
            start = self.given[arm.label]
            wanted |= {(arm.label, self.first_seed + i) for i in range(start, start + extra)}
            self.given[arm.label] += extra
        return self._with_baseline(wanted)

    def _with_baseline(self, wanted: set[tuple[str, int]]) -> list[tuple[Arm, int]]:
        """The runs `wanted` and the baseline's runs of their new seeds, in run order."""
        baseline = self.arms[0].label
        seeds = sorted({seed for _, seed in wanted})
        wanted |= {(baseline, s) for s in seeds if s - self.first_seed >= self.given[baseline]}
        if seeds:
            self.given[baseline] = max(self.given[baseline], seeds[-1] - self.first_seed + 1)
        ordered = paired_runs(self.arms, seeds, self.order)
        return [(arm, seed) for arm, seed in ordered if (arm.label, seed) in wanted]

    def summary(self) -> pd.DataFrame:
        """Per arm: paired seeds it got, its verdict and why it stopped."""
        columns = ["arm", "seeds", "wins", "ties", "losses", "verdict", "reason"]
        return self.decisions[columns].copy()
