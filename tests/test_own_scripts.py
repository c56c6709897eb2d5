"""Scripts as people write them: a Lightning script with TensorBoardLogger's default
layout (event files in lightning_logs/version_0/, below the trial's folder) passes --check
and is searched, its values read from where Lightning put them."""

import pandas as pd
import pytest

from conftest import ROOT, run_driver

SCRIPT = ROOT / "tests" / "scripts" / "lightning_defaults.py"


def lightning_config(folder):
    config = folder / "lightning.toml"
    config.write_text(f"""name = "lightning-defaults"
[trial]
script = "{SCRIPT}"
args = ["--log-dir", "{{log_dir}}", "--epochs", "1"]
[search]
trials = 2
[parameters]
width = {{ parameter_type = "int", bounds = [2, 16] }}
lr = {{ parameter_type = "float", bounds = [0.01, 0.2] }}
[optimization]
objective = "accuracy, -params"
[metrics]
accuracy = {{ tag = "val/accuracy" }}
params = {{ tag = "model/params" }}
""")
    return config


def test_lightning_default_log_layout_passes_check_and_is_searched(tmp_path, main_in_process):
    from nas.metrics import read_final_scalars

    config = lightning_config(tmp_path)
    code, out, err = main_in_process("--config", config, "--check",
                                     "--results-dir", tmp_path / "check")
    assert code == 0, out + err
    assert "ok       accuracy: tag 'val/accuracy' = " in out
    assert "ok       params: tag 'model/params' = " in out

    results = tmp_path / "r"
    proc = run_driver("--config", config, "--trials", 2, "--max-pending", 2, "--seed", 0,
                      "--results-dir", results)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    df = pd.read_csv(results / "experiment.csv").set_index("trial_index")
    assert (df["trial_status"] == "COMPLETED").all() and len(df) == 2
    for idx, row in df.iterrows():
        trial_dir = results / "logs" / "trials" / str(idx)
        assert (trial_dir / "lightning_logs" / "version_0").is_dir()
        logged = read_final_scalars(trial_dir)
        assert row["accuracy"] == pytest.approx(logged["val/accuracy"])
        assert row["params"] == 2 * row["width"] + row["width"] + row["width"] * 2 + 2
