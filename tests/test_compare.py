"""bench.compare's table and plot, from made-up run folders (--report-only)."""

import json

import pandas as pd
import pytest

from bench.compare import band, main

# strategy, seed -> HV after each completed trial (4 trials; botorch-seed1 had a failure)
TRACES = {("sobol", 0): [0, 100, 100, 300], ("botorch", 0): [0, 100, 400, 900],
          ("sobol", 1): [50, 50, 200, 200], ("botorch", 1): [0, 0, 150]}


def make_run(out, strategy, seed, hvs, stopped=False):
    folder = out / "runs" / f"{strategy}-seed{seed}"
    folder.mkdir(parents=True)
    pd.DataFrame({"completed": range(1, len(hvs) + 1), "trial_index": range(len(hvs)),
                  "hypervolume": hvs, "hv_fraction": [h / 4800 for h in hvs],
                  "feasible": [h > 0 for h in hvs]}).to_csv(folder / "hypervolume.csv", index=False)
    status = ["COMPLETED"] * len(hvs) + ["ABANDONED" if stopped else "FAILED"] * (4 - len(hvs))
    pd.DataFrame({"trial_index": range(4), "trial_status": status}).to_csv(
        folder / "experiment.csv", index=False)
    (folder / "wall_seconds.txt").write_text("60.0\n")


@pytest.fixture
def out(tmp_path):
    for (strategy, seed), hvs in TRACES.items():
        make_run(tmp_path, strategy, seed, hvs)
    assert main(["--seeds", "2", "--trials", "4", "--report-only", "--out", str(tmp_path)]) == 0
    return tmp_path


def test_table_has_one_row_per_run(out):
    table = pd.read_csv(out / "comparison.csv").set_index(["strategy", "seed"])
    assert len(table) == 4
    assert table.loc[("botorch", 0), "final_hv"] == 900
    assert table.loc[("botorch", 1), "final_hv"] == 150  # flat after its last completed trial
    assert table.loc[("botorch", 1), "failed"] == 1
    assert table.loc[("sobol", 1), "hv_at_2"] == 50
    assert table.loc[("sobol", 0), "hv_at_3"] == 100


def test_band_is_median_min_max_over_seeds(out):
    traces = pd.read_csv(out / "hv_traces.csv")
    stats = band(traces).set_index(["strategy", "completed"])
    assert tuple(stats.loc[("botorch", 4)]) == (525, 150, 900)
    assert tuple(stats.loc[("sobol", 1)]) == (25, 0, 50)


def test_summary_says_who_won(out):
    md = (out / "summary.md").read_text()
    assert "higher than sobol's on 1 of 2 seeds, equal on 0, lower on 1, at the full budget" in md
    assert "| botorch" in md and "| sobol" in md
    assert (out / "hv_vs_trial.png").stat().st_size > 5_000
    html = (out / "hv_vs_trial.html").read_text()
    assert 'src="plotly.min.js"' in html and (out / "plotly.min.js").exists()


def test_outputs_record_the_commit(out):
    from nas.report.provenance import git_state

    manifest = json.loads((out / "provenance.json").read_text())
    assert manifest["commit"] == git_state()["commit"] and manifest["commit"]
    assert {"comparison.csv", "hv_traces.csv", "summary.md", "hv_vs_trial.html",
            "hv_vs_trial.png"} <= set(manifest["files"])
    assert f"commit {manifest['commit'][:12]}" in (out / "summary.md").read_text()
    assert '<meta name="provenance"' in (out / "hv_vs_trial.html").read_text()


def test_a_stopped_run_counts_only_as_far_as_it_got(tmp_path):
    make_run(tmp_path, "sobol", 0, [0, 100, 100, 300])
    make_run(tmp_path, "botorch", 0, [0, 200], stopped=True)  # stopped after 2 of 4
    assert main(["--seeds", "1", "--trials", "4", "--report-only", "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "comparison.csv").set_index("strategy")
    assert not table.loc["botorch", "finished"] and table.loc["sobol", "finished"]
    assert pd.isna(table.loc["botorch", "final_hv"]) and table.loc["botorch", "last_hv"] == 200
    traces = pd.read_csv(tmp_path / "hv_traces.csv")
    b = traces[traces["strategy"] == "botorch"].set_index("completed")["hypervolume"]
    assert b[2] == 200 and pd.isna(b[3]) and pd.isna(b[4])
    md = (tmp_path / "summary.md").read_text()
    assert "botorch seed 0 after 2 trials" in md
    assert "higher than sobol's on 1 of 1 seeds, equal on 0, lower on 0, after 2 completed" in md


def test_a_finished_run_is_kept_not_run_or_timed_again(tmp_path, monkeypatch, capsys):
    import bench.compare

    for strategy in ("sobol", "botorch"):
        make_run(tmp_path, strategy, 0, [0, 100, 100, 300])
    monkeypatch.setattr(bench.compare, "run_one", lambda *a: pytest.fail("a finished run ran again"))
    assert main(["--seeds", "1", "--trials", "4", "--out", str(tmp_path)]) == 0
    assert "kept: finished before, in 60s" in capsys.readouterr().out
    assert (tmp_path / "runs" / "sobol-seed0" / "wall_seconds.txt").read_text() == "60.0\n"
    assert (pd.read_csv(tmp_path / "comparison.csv")["wall_seconds"] == 60).all()


def test_pareto_optimal_trials_by_depth(tmp_path):
    """The tutorial's front is all 2-layer trials; the variable-depth search's is counted
    by its structures; a run without run_summary.json has no counts."""
    make_run(tmp_path, "botorch", 0, [0, 100, 100, 300])
    make_run(tmp_path, "layers", 0, [0, 200, 400, 500])
    make_run(tmp_path, "botorch", 1, [0, 100, 200, 300])
    make_run(tmp_path, "layers", 1, [0, 100, 300, 600])
    runs = tmp_path / "runs"
    (runs / "botorch-seed0" / "run_summary.json").write_text(
        json.dumps({"pareto_optimal_trials": [1, 3, 2], "structures": None}))
    (runs / "layers-seed0" / "run_summary.json").write_text(json.dumps({
        "pareto_optimal_trials": [0, 1, 2, 3],
        "structures": [{"structure": "layer_2=false", "completed": 2, "pareto_optimal": 2},
                       {"structure": "layer_2=true, layer_3=false", "completed": 1,
                        "pareto_optimal": 1},
                       {"structure": "layer_2=true, layer_3=true", "completed": 1,
                        "pareto_optimal": 1}]}))
    (runs / "layers-seed1" / "run_summary.json").write_text(json.dumps({
        "pareto_optimal_trials": [0, 1, 2, 3],
        "structures": [{"structure": "layer_2=false", "completed": 4, "pareto_optimal": 4}]}))
    assert main(["--seeds", "2", "--trials", "4", "--variants", "botorch,layers", "--report-only",
                 "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "comparison.csv").set_index(["strategy", "seed"])
    depths = ["pareto_1_layer", "pareto_2_layers", "pareto_3_layers"]
    assert list(table.loc[("botorch", 0), depths]) == [0, 3, 0]
    assert list(table.loc[("layers", 0), depths]) == [2, 1, 1]
    assert list(table.loc[("layers", 1), depths]) == [4, 0, 0]
    assert table.loc[("botorch", 1), depths].isna().all()
    md = (tmp_path / "summary.md").read_text()
    assert "pareto_1_layer" in md and "3 (2..4)" in md
    assert "layers's hypervolume is higher than botorch's on 2 of 2 seeds" in md


def test_an_unknown_structure_is_refused(tmp_path):
    make_run(tmp_path, "layers", 0, [0, 100, 100, 300])
    (tmp_path / "runs" / "layers-seed0" / "run_summary.json").write_text(json.dumps({
        "structures": [{"structure": "layer_2=maybe", "completed": 4, "pareto_optimal": 1}]}))
    with pytest.raises(ValueError, match="layer_2=maybe"):
        main(["--seeds", "1", "--trials", "4", "--variants", "layers", "--report-only",
              "--out", str(tmp_path)])


def test_a_variant_is_given_with_its_own_flags(tmp_path, monkeypatch):
    """--variant NAME=FLAGS: FLAGS split as a shell would, run after --variants' in the
    order given; run_nas.py gets them before the flags every variant shares."""
    import bench.compare
    from bench.compare import parse_args

    args = parse_args(["--variants", "botorch", "--variant",
                       "gss=--global-stopping min_trials=3,window_size=2 --fix 'note=a b'",
                       "--variant", "budget=--time-budget 150s"])
    assert args.variants == ["botorch", "gss", "budget"]
    assert args.flags["gss"] == ["--global-stopping", "min_trials=3,window_size=2", "--fix",
                                 "note=a b"]
    assert args.flags["botorch"] == ["--strategy", "botorch"]
    assert parse_args(["--variant", "budget=--time-budget 1s"]).variants == ["budget"]
    assert parse_args([]).variants == ["sobol", "botorch"]
    for bad in ("budget", "=--time-budget 1s", "a/b=--time-budget 1s", "budget=",
                "botorch=--time-budget 1s", "b=--seed 3", "b=--trials=9"):
        with pytest.raises(SystemExit):
            parse_args(["--variant", bad])
    with pytest.raises(SystemExit):  # the same name twice
        parse_args(["--variant", "b=--time-budget 1s", "--variant", "b=--time-budget 2s"])

    commands, built = [], []
    monkeypatch.setattr(bench.compare.subprocess, "call", lambda cmd, **kw: commands.append(cmd) or 1)
    monkeypatch.setattr(bench.compare, "build_botorch_kernel", lambda: built.append(1))
    main(["--seeds", "1", "--trials", "4", "--variant", "budget=--time-budget 150s",
          "--out", str(tmp_path)])
    [cmd] = commands
    assert built == [1]  # BoTorch's kernel, before the run that is timed
    assert cmd[2:6] == ["--time-budget", "150s", "--seed", "0"]
    assert str(tmp_path / "runs" / "budget-seed0") in cmd
    log = (tmp_path / "runs" / "budget-seed0" / "driver.log").read_text()
    assert "--time-budget 150s --seed 0" in log


def test_a_run_stopped_by_design_is_finished_with_its_last_hv(tmp_path):
    """A search that its time budget or global stopping ended (exit 0: wall_seconds.txt)
    counts as finished with the HV it ended with; an interrupted one stays cut short.
    `ended` and `trials_run` (not ABANDONED) say how each ended."""
    make_run(tmp_path, "botorch", 0, [0, 100, 100, 300])
    runs = tmp_path / "runs"
    (runs / "botorch-seed0" / "run_summary.json").write_text(
        json.dumps({"search": {"state": "finished", "why": None}}))
    why = "stopped by its time budget (150s) after 3 of 4 trials"
    for variant, ended, exit_0 in (("budget", why, True),
                                   ("cut", "interrupted (SIGINT)", False)):
        make_run(tmp_path, variant, 0, [0, 200], stopped=True)  # 2 completed, 2 ABANDONED
        folder = runs / f"{variant}-seed0"
        exp = pd.read_csv(folder / "experiment.csv")
        exp.loc[2, "trial_status"] = "FAILED"  # ran, and counts: 3 trials run
        exp.to_csv(folder / "experiment.csv", index=False)
        (folder / "run_summary.json").write_text(
            json.dumps({"search": {"state": "stopped", "why": ended}}))
        if not exit_0:
            (folder / "wall_seconds.txt").unlink()
    assert main(["--seeds", "1", "--trials", "4", "--variants", "botorch",
                 "--variant", "budget=--time-budget 150s", "--variant", "cut=--time-budget 1h",
                 "--report-only", "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "comparison.csv").set_index("strategy")
    assert table.loc["botorch", "ended"] == "finished" and table.loc["botorch", "trials_run"] == 4
    assert table.loc["budget", "ended"] == why and table.loc["budget", "finished"]
    assert table.loc["budget", "final_hv"] == 200 and table.loc["budget", "trials_run"] == 3
    assert not table.loc["cut", "finished"] and pd.isna(table.loc["cut", "final_hv"])
    assert table.loc["cut", "ended"] == "interrupted (SIGINT)"
    md = (tmp_path / "summary.md").read_text()
    assert f"budget seed 0, 3 trials run: {why}" in md
    assert "cut seed 0 after 2 trials" in md
    assert ("budget's hypervolume is higher than botorch's on 0 of 1 seeds, equal on 0, lower on 1, "
            "at the end of each run") in md
