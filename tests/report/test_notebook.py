"""`notebooks/ablation_report.ipynb` runs top to bottom on a folder of synthetic runs."""

from pathlib import Path

import nbclient
import nbformat
from synthetic_sweeps import demo_records, write_sweep

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "ablation_report.ipynb"


def test_notebook_runs_on_a_sweep_folder_and_shows_the_table(tmp_path, monkeypatch):
    write_sweep(tmp_path / "sweep", demo_records())
    monkeypatch.setenv("ABLATE_SWEEP_DIR", str(tmp_path / "sweep"))
    monkeypatch.delenv("ABLATE_SWEEP_ID", raising=False)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell

    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    markdown = "\n".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert "| arm | knobs | runs ok/failed/missing | N pairs | W/T/L |" in markdown
    assert "| swa=on | swa=on | 3/0/0 | 3 | 3/0/0 |" in markdown
    assert "## Claim check" in markdown
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 4
    html = "\n".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "delta_accuracy" in html  # the numeric main table, as a DataFrame
