"""The same experiment gives the same results files in any process, apart from the time
stamp they were made at: what lets `run_nas.py --report` reproduce the driver's files.
Python hashes strings differently in each process, and Ax takes some orders from sets
(the CV folds, the CV plot's metrics): nas/report/writer.py puts them in a fixed order."""

import os
import subprocess
import sys

from conftest import ROOT, results_files

WRITE = """
import sys
sys.path.insert(0, sys.argv[2])
from conftest import tutorial_config
from fake_experiment import fake_experiment
from nas.generation import set_generation_threads
from nas.report.writer import write_results

set_generation_threads()
experiment = fake_experiment([(0, 0.95, 30_000, 5), (1, 0.97, 60_000, 7), (2, 0.96, 20_000, 9)])
write_results(experiment, sys.argv[1], tutorial_config(), run_info={"strategy": "botorch"})
"""


def test_two_processes_hashing_strings_differently_write_the_same_files(tmp_path):
    for seed in ("1", "3"):  # two seeds under which Ax orders the two metrics differently
        proc = subprocess.run([sys.executable, "-c", WRITE, tmp_path / seed, ROOT / "tests"],
                              env={**os.environ, "PYTHONHASHSEED": seed}, cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
    first, second = results_files(tmp_path / "1"), results_files(tmp_path / "3")
    assert "cross_validation.html" in first and "contour_val_acc.html" in first
    assert first.keys() == second.keys()
    for name in first:
        assert first[name] == second[name], name
