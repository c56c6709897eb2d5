"""Which code made a results file: the git commit, whether the tree had uncommitted
changes, and the library versions. A leaf module (git, importlib.metadata and the pages' escaping), so
that the report and the benchmarks record the same facts the same way.

`dirty` means a tracked file outside results/ differs from the commit: the results
folder is the output (a re-run rewrites its committed files), not the code that made
it; untracked files (logs, caches) do not count. Outside a git checkout (an unpacked
copy, git not installed) `commit` and `dirty` are None and `note` says why.
"""

import datetime as dt
import json
import platform
import subprocess
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from nas.report import markup

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["ax-platform", "botorch", "gpytorch", "torch", "torchx", "pytorch-lightning", "plotly"]
OUTPUT_DIRS = ["results"]  # generated files: changes there do not make the code dirty
MANIFEST = "provenance.json"  # beside CSV files, which cannot hold it themselves


def _git(repo: str | Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True, timeout=30).stdout


def git_state(repo: str | Path = ROOT) -> dict[str, Any]:
    """{"commit": sha, "dirty": bool, "changed": [paths]} of `repo`; None values and a
    `note` if it is not a git checkout."""
    try:
        commit = _git(repo, "rev-parse", "HEAD").strip()
        status = _git(repo, "status", "--porcelain", "--untracked-files=no", "--", ".",
                      *(f":(exclude){d}" for d in OUTPUT_DIRS))
    except (OSError, subprocess.SubprocessError) as e:
        why = getattr(e, "stderr", None) or str(e)
        return {"commit": None, "dirty": None,
                "note": f"{repo} is not a git checkout ({why.strip().splitlines()[0]})"}
    changed = [line[3:] for line in status.splitlines()]
    return {"commit": commit, "dirty": bool(changed), "changed": changed[:20]}


def versions(packages: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Python's and the main libraries' versions."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def provenance(repo: str | Path = ROOT, at_start: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The record embedded in (or written beside) every generated results file.
    `at_start`: git_state() when the run began; if the checkout changed while it ran (a
    search runs for minutes, and cold jobs load the training script at launch), the
    record keeps that state too, as "at_start"."""
    record = {**git_state(repo), "generated": dt.datetime.now().isoformat(timespec="seconds")}
    if at_start and _code(at_start) != _code(record):
        record["at_start"] = at_start
    return record


def _code(state: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    return state.get("commit"), state.get("dirty"), state.get("changed")


def describe(record: Mapping[str, Any]) -> str:
    """One line: `commit 1a2b3c4 (uncommitted changes)`, and the commit at the run's start
    if the checkout changed during it."""
    if record.get("commit") is None:
        return record.get("note", "not a git checkout")
    text = f"commit {record['commit'][:12]}" + (" (uncommitted changes)" if record["dirty"] else "")
    if "at_start" in record:
        text += f"; the checkout changed while the run went on: it started at {describe(record['at_start'])}"
    return text


def add_to_html(text: str, record: Mapping[str, Any]) -> str:
    """`text` (a full HTML page) with the record as a <meta name="provenance"> in its head."""
    meta = f'<meta name="provenance" content="{markup.text(json.dumps(record))}">'
    head = text.find("<head>")
    if head < 0:  # no head: a comment first
        return f"<!-- provenance: {json.dumps(record)} -->\n" + text
    return text[:head + 6] + meta + text[head + 6:]





def write_manifest(folder: str | Path, files: Iterable[str | Path], record: Mapping[str, Any],
                   write: Callable[[Path, str], None]) -> Path:
    """`folder`/provenance.json: every file written (relative names) with the record.
    `write(path, text)`: the caller's atomic writer."""
    folder = Path(folder)
    names = sorted(str(Path(p).resolve().relative_to(folder.resolve())) for p in files)
    write(folder / MANIFEST, json.dumps({**record, "files": names}, indent=2) + "\n")
    return folder / MANIFEST
