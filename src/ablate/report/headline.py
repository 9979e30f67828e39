"""A sweep's headline numbers, for its parent run in MLflow: the runs table then compares
sweeps at a glance, without opening their reports.

Metrics: `baseline_test_accuracy` (the baseline's mean), and per arm `delta_pp/<arm>` (its
paired mean difference in test accuracy, percentage points) and `pairs/<arm>`. Tags:
`verdict/<arm>` (the report's verdict). MLflow names allow letters, digits, `_ - . : /` and
spaces, so an arm's `=` becomes `:` and any other character `_` (`swa=on` ->
`delta_pp/swa:on`).
"""

import math
import re

import pandas as pd

_NOT_ALLOWED = re.compile(r"[^\w.\- :]")


def mlflow_name(arm: str) -> str:
    """An arm label as MLflow accepts it in a metric or tag name (`swa=on` -> `swa:on`)."""
    return _NOT_ALLOWED.sub("_", arm.replace("=", ":"))


def headline(main: pd.DataFrame) -> tuple[dict[str, float], dict[str, str]]:
    """The parent run's metrics and tags, from the report's main table.

    Args:
        main: `Report.main` (`ablate.report.tables.main_table`, verdicts as reported).

    Returns:
        `(metrics, tags)`. Arms without pairs get a verdict tag but no metrics.
    """
    metrics, tags = {}, {}
    for row in main.to_dict("records"):
        if row["role"] == "baseline":
            metrics["baseline_test_accuracy"] = float(row["test_accuracy_mean"])
            continue
        name = mlflow_name(row["arm"])
        tags[f"verdict/{name}"] = str(row["verdict"])
        if row["n_pairs"] and not math.isnan(row["delta_accuracy"]):
            metrics[f"delta_pp/{name}"] = round(100 * float(row["delta_accuracy"]), 4)
            metrics[f"pairs/{name}"] = float(row["n_pairs"])
    return metrics, tags
