"""The knob reference, `docs/knobs.md`, generated from the schemas and the options in `conf/`.

    python -m ablate.knob_reference > docs/knobs.md

For each config group: what it is (the docstring of its schema), then each option (the
comment that opens its YAML file) with a table of its keys: type, value (as the option
composes), what is allowed (the field's `Rule`) and what it does (the field's help). Then the
knobs outside the groups, the sweep settings, the experiments and the refused combinations
(the `check_*` functions of `ablate.validation`). `tests/test_knob_reference.py` fails when
the committed file is stale.
"""

import dataclasses
import inspect
import sys
import types
from pathlib import Path

import hydra
import yaml
from omegaconf import MISSING, OmegaConf

from ablate import validation
from ablate.config import SCHEMAS, AblateConfig, AblationConfig, config_dir, register_schemas

COMMAND = "python -m ablate.knob_reference > docs/knobs.md"
INTRO = f"""\
# Knob reference

Generated from the schemas (`src/ablate/config.py`) and the options (`conf/`) by
`{COMMAND}`; do not edit it by hand.

Every knob is a Hydra override: a group option by name (`augment=mixup`) or a field with a dot
(`augment.alpha=0.4`). `conf/config.yaml` picks the baseline option of each group; the values
below are those each option sets. Every value is checked before any data is loaded
(`ablate.config.validate`), against the "Allowed" column and the
[refused combinations](#refused-combinations). A field that belongs to another option (e.g.
`augment.num_ops` with `augment=mixup`) does not exist and is a composition error. Hydra's own
`hydra.run.dir` and `hydra.sweep.dir` (`outputs/<date>/<time>`, `multirun/<date>/<time>`) set
the output folders, and a git-ignored `conf/local/default.yaml` (`# @package _global_`) holds
personal overrides.
"""


REFUSALS = """\
Checked with the ranges above, before any data is loaded, and again with the kind of data
found once it is loaded (an `npz` file may hold images or a table). Some limits depend on the
data and are checked once it is loaded: `training.batch_size` and `accumulation` against the
training split, `balance.k_neighbors` against the smallest class, `balance=class_weight`
against empty classes, `model.weights=imagenet` and `augment=eda` against what they need."""


def _type_name(annotation) -> str:
    """`int | None` -> `int or null`, `list[int]` -> `list of int`, `dict[...]` -> `mapping`."""
    if isinstance(annotation, types.UnionType):
        return " or ".join(_type_name(part) for part in annotation.__args__)
    if annotation is type(None):
        return "null"
    if isinstance(annotation, types.GenericAlias):
        if annotation.__origin__ is dict:
            return "mapping"
        return f"{annotation.__origin__.__name__} of {_type_name(annotation.__args__[0])}"
    return annotation.__name__


def _value(value) -> str:
    """A composed value as it is written in YAML and on the command line."""
    if value == MISSING:
        return "*required*"
    return f"`{_plain(value)}`"


def _plain(value) -> str:
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, list):
        return "[" + ", ".join(_plain(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_plain(item)}" for key, item in value.items()) + "}"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _header_comment(path: Path) -> str:
    """The comment lines that open a YAML file, as one paragraph."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if text.startswith("python -m ablate"):
            text = f"Run `{text}`."
        if not text.startswith("@package"):
            lines.append(text)
    return " ".join(line for line in lines if line)


def _table(prefix: str, fields, values: dict) -> list[str]:
    """The rows of schema `fields`: key, type, value, what is allowed, what it does."""
    rows = ["| Key | Type | Value | Allowed | What it does |", "|---|---|---|---|---|"]
    for field in fields:
        rule = field.metadata.get("rule")
        allowed = rule.allowed if rule else ("true or false" if field.type is bool else "—")
        cells = (
            f"`{prefix}{field.name}`",
            _type_name(field.type),
            _value(values[field.name]),
            allowed,
            field.metadata.get("help", ""),
        )
        rows.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return rows


def _schema_of(group: str, option_file: Path):
    """The schema class an option file extends (`/schema/<group>/<name>@_here_`)."""
    for entry in yaml.safe_load(option_file.read_text())["defaults"]:
        if isinstance(entry, str) and entry.startswith(f"/schema/{group}/"):
            return SCHEMAS[group][entry.split("/")[-1].split("@")[0]]
    raise ValueError(f"{option_file} does not extend a schema of /schema/{group}/")


def _baseline_options(conf: Path) -> dict[str, str]:
    """The option `conf/config.yaml` picks for each group."""
    defaults = yaml.safe_load((conf / "config.yaml").read_text())["defaults"]
    return {k: v for entry in defaults if isinstance(entry, dict) for k, v in entry.items()}


def _refusals() -> list[str]:
    """One line per cross-field check of `ablate.validation`: its docstring's summary."""
    checks = [
        function
        for name, function in vars(validation).items()
        if name.startswith("check_")
        and inspect.isfunction(function)
        and next(iter(inspect.signature(function).parameters)) != "cfg"
    ]
    checks.sort(key=lambda function: function.__code__.co_firstlineno)
    summaries = [inspect.getdoc(check).split("\n\n")[0] for check in checks]
    return ["- " + " ".join(summary.split()) for summary in summaries]


def render() -> str:
    """Returns the knob reference as Markdown."""
    register_schemas()
    conf = config_dir()
    baseline = _baseline_options(conf)
    lines = [INTRO]
    with hydra.initialize_config_dir(str(conf), version_base="1.3"):
        for group in SCHEMAS:
            files = sorted(
                (conf / group).glob("*.yaml"), key=lambda f: (f.stem != baseline[group], f.stem)
            )
            base = AblateConfig.__dataclass_fields__[group].type
            names = [
                f"`{f.stem}`" + (" (baseline)" if f.stem == baseline[group] else "") for f in files
            ]
            lines += [f"## `{group}`", "", inspect.getdoc(base), "", "Options: " + ", ".join(names)]
            for option_file in files:
                cfg = hydra.compose("config", overrides=[f"{group}={option_file.stem}"])
                values = OmegaConf.to_container(cfg[group], resolve=False)
                lines += ["", f"### `{group}={option_file.stem}`", ""]
                lines += [_header_comment(option_file), ""]
                fields = dataclasses.fields(_schema_of(group, option_file))
                lines += _table(f"{group}.", fields, values)
            lines.append("")
        cfg = OmegaConf.to_container(hydra.compose("config"), resolve=False)
    top_level = [field for field in dataclasses.fields(AblateConfig) if field.metadata]
    lines += ["## Top-level knobs", "", "Outside the groups, set in `conf/config.yaml`.", ""]
    lines += _table("", top_level, cfg)
    lines += ["", "## `ablation`", "", inspect.getdoc(AblationConfig), ""]
    lines += _table("ablation.", dataclasses.fields(AblationConfig), cfg["ablation"])
    lines += [
        "",
        "## `experiment`",
        "",
        "A study's deltas from the baseline, in `conf/experiment/`:",
    ]
    lines.append("")
    for path in sorted((conf / "experiment").glob("*.yaml")):
        lines.append(f"- `experiment={path.stem}`: {_header_comment(path)}")
    lines += ["", "## Refused combinations", "", REFUSALS, "", *_refusals()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
