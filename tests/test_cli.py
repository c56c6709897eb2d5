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
def test_bad_values_exit_2_with_one_line(args, expected, tmp_path, main_in_process):
    code, _, err = main_in_process(*args, "--results-dir", tmp_path / "r")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert expected in lines[0] and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_results_dir_that_cannot_be_created(tmp_path, main_in_process):
    (tmp_path / "file").write_text("x")
    code, _, err = main_in_process("--results-dir", tmp_path / "file" / "sub")
    assert code == 2
    assert "--results-dir" in err and len(err.strip().splitlines()) == 1


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
    assert args.options.results_dir == results
    assert list(tmp_path.iterdir()) == []
