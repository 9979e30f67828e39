"""The Fashion-MNIST study files plan the design, arms and seeds their headers promise."""

import re

import pytest

from conftest import run_cli

STUDIES = {
    "fashion_techniques": ("ofat", 16, "attention=mhsa"),
    "fashion_balancing": ("ofat", 6, "balance=smote_undersample"),
    "fashion_recipe": ("loo", 3, "ema=off"),
    "fashion_recipe_swa": ("loo", 3, "swa=off"),
}


@pytest.mark.parametrize("study", sorted(STUDIES))
def test_a_study_file_plans_its_arms_with_5_then_up_to_10_paired_seeds(study, tmp_path):
    design, configurations, an_arm = STUDIES[study]
    result = run_cli(
        "-m", f"experiment={study}", "tracking=none", "ablation.dry_run=true", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    plan = re.search(r"Ablation plan \((\w+), (\d+) configurations x 5 seed\(s\)", result.stdout)
    assert plan and plan.groups() == (design, str(configurations))
    assert f"| {an_arm} | arm |" in result.stdout
    assert f"up to 10 seeds per arm ({10 * configurations} runs at most), within 5400 s" in (
        result.stdout
    )
