"""Every results file records the commit it was made with and whether the tree was dirty."""

import json
import re
import subprocess

import pandas as pd

from conftest import tutorial_config
from fake_experiment import fake_experiment
from nas.report.provenance import MANIFEST, ROOT, describe, git_state, provenance
from nas.report.writer import write_results


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                           *args], check=True, capture_output=True, text=True).stdout.strip()


def test_commit_and_dirty_flag_are_what_git_says(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "index.html").write_text("old\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "one")
    clean = git_state(tmp_path)
    assert clean["commit"] == git(tmp_path, "rev-parse", "HEAD") and clean["dirty"] is False
    (tmp_path / "results" / "index.html").write_text("regenerated\n")  # output, not code
    (tmp_path / "notes.txt").write_text("untracked\n")
    assert git_state(tmp_path)["dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    dirty = git_state(tmp_path)
    assert dirty["dirty"] is True and dirty["changed"] == ["code.py"]
    assert describe(dirty) == f"commit {clean['commit'][:12]} (uncommitted changes)"


def test_a_checkout_changed_during_the_run_is_recorded_with_its_start(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "one")
    start = git_state(tmp_path)
    assert "at_start" not in provenance(tmp_path, at_start=start)  # unchanged: one state
    (tmp_path / "code.py").write_text("x = 2\n")
    git(tmp_path, "commit", "-qam", "two")
    record = provenance(tmp_path, at_start=start)
    assert record["commit"] == git(tmp_path, "rev-parse", "HEAD") and record["at_start"] == start
    assert describe(record) == (f"commit {record['commit'][:12]}; the checkout changed while the "
                                f"run went on: it started at commit {start['commit'][:12]}")


def test_not_a_git_checkout(tmp_path):
    record = git_state(tmp_path)
    assert record["commit"] is None and record["dirty"] is None
    assert "not a git checkout" in record["note"] and describe(record) == record["note"]


def test_every_results_file_records_the_checkout(tmp_path):
    expected_commit = git(ROOT, "rev-parse", "HEAD")
    expected_dirty = bool(git(ROOT, "status", "--porcelain", "--untracked-files=no", "--",
                              ".", ":(exclude)results"))
    files, summary = write_results(fake_experiment([(0, 0.97, 30_000, 5), (1, 0.96, 9_000, 6)],
                                                   failed=[2]), tmp_path, tutorial_config())
    record = summary.provenance
    assert (record["commit"], record["dirty"]) == (expected_commit, expected_dirty)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert (manifest["commit"], manifest["dirty"]) == (expected_commit, expected_dirty)
    listed = set(manifest["files"])
    assert listed == {p.name for p in files.values()} - {MANIFEST}
    assert {"experiment.csv", "hypervolume.csv", "index.html", "run_summary.json"} <= listed
    for name in listed:
        text = (tmp_path / name).read_text()
        if name.endswith(".json"):
            assert json.loads(text)["provenance"] == record, name
        elif name.endswith(".html"):
            meta = re.search(r'<meta name="provenance" content="([^"]*)">', text).group(1)
            assert json.loads(meta.replace("&quot;", '"').replace("&lt;", "<")
                              .replace("&amp;", "&")) == record, name
        else:  # CSV: untouched, the manifest holds the record
            assert name.endswith(".csv") and "provenance" not in pd.read_csv(tmp_path / name)
    assert describe(record) in (tmp_path / "index.html").read_text()
