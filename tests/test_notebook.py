"""examples/notebook/tutorial_api.ipynb runs top to bottom on the API (a 2-trial search of
1 epoch), as a reader would run it: it cannot rot."""

import os

import pytest


def test_the_notebook_runs(tmp_path, data_dir):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    from conftest import ROOT

    path = ROOT / "examples" / "notebook" / "tutorial_api.ipynb"
    notebook = nbformat.read(path, as_version=4)
    env = {"NAS_NOTEBOOK_TRIALS": "2", "NAS_NOTEBOOK_EPOCHS": "1",
           "NAS_NOTEBOOK_DIR": str(tmp_path), "PATH_DATASETS": str(data_dir)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits them
    try:
        NotebookClient(notebook, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    outputs = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                      for cell in notebook.cells if cell.cell_type == "code"
                      for o in cell.outputs)
    assert "2 of 2 trials done" in outputs
    assert "finished, 2 of 2 trials done" in outputs
    assert (tmp_path / "results" / "index.html").exists()
    assert "('finished', 2)" in outputs
