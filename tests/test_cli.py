import pytest

from conftest import run_driver


@pytest.mark.parametrize("args, expected", [
    (["--trials", "0"], "--trials"),
    (["--trials", "-3"], "--trials"),
    (["--trials", "2.5"], "--trials"),
    (["--max-pending", "x"], "--max-pending"),
    (["--fix", "epochs"], "--fix 'epochs': expected NAME=VALUE"),
    (["--fix", "epoch=1"], "no parameter 'epoch'"),
    (["--config", "nope.toml"], "no such config file"),
    (["--scheduler", "nope"], "unknown TorchX scheduler 'nope'"),
    (["--seed", "abc"], "--seed"),
    (["--bogus"], "unrecognized arguments"),
])
def test_bad_values_exit_2_with_one_line(args, expected, tmp_path):
    result = run_driver(*args, "--results-dir", tmp_path / "r", timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0] and "Traceback" not in result.stderr


def test_results_dir_that_cannot_be_created(tmp_path):
    (tmp_path / "file").write_text("x")
    result = run_driver("--results-dir", tmp_path / "file" / "sub", timeout=120)
    assert result.returncode == 2
    assert "--results-dir" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_data_dir_without_mnist_names_folder_and_files(tmp_path):
    """The tutorial's [prepare] command fails (no network): the driver stops with its line."""
    result = run_driver("--data-dir", tmp_path / "empty", "--results-dir", tmp_path / "r",
                        timeout=300)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "[prepare]" in line and "failed (exit code 2)" in line
    assert str(tmp_path / "empty" / "MNIST" / "raw") in line
    assert "train-images-idx3-ubyte" in line and "t10k-labels-idx1-ubyte" in line
    assert "Traceback" not in result.stderr


def test_checking_the_folders_creates_none(tmp_path):
    from nas.cli import parse_args

    results = tmp_path / "new" / "results"
    args = parse_args(["--results-dir", str(results), "--log-dir", str(tmp_path / "logs")])
    assert args.results_dir == str(results)
    assert list(tmp_path.iterdir()) == []
