"""The documentation against the code: the config reference names exactly the keys the
loader takes, and every link of README.md and docs/ leads to a file or a heading of the
repository."""

import dataclasses
import re
from pathlib import Path

import pytest

from conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def table_keys(markdown, heading):
    """The backticked names in the first column of the table under `heading`."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip("#").strip() == heading)
    keys, in_table = [], False
    for line in lines[start + 1:]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            in_table = True
            first = line.split("|")[1].strip()
            keys += re.findall(r"`\{?([a-z_]+)\}?`", first)
        elif in_table:
            break
    return keys


def test_the_config_reference_names_the_loaders_keys():
    from ax.api.configs import ChoiceParameterConfig, DerivedParameterConfig, RangeParameterConfig

    from nas import config

    text = (ROOT / "docs" / "config.md").read_text()
    expected = {
        "Top level": config.TOP_KEYS,
        "[trial]": config.TABLES["trial"], "[prepare]": config.TABLES["prepare"],
        "[search]": config.TABLES["search"],
        "[search.global_stopping]": config.GLOBAL_STOPPING_KEYS,
        "[parameters]": {f.name for kind in (RangeParameterConfig, ChoiceParameterConfig,
                                             DerivedParameterConfig)
                         for f in dataclasses.fields(kind)} - {"name"},
        "[optimization]": config.TABLES["optimization"], "[metrics]": config.METRIC_KEYS,
        "[report]": config.TABLES["report"],
        "Placeholders": {*config.TRIAL_PLACEHOLDERS, *config.PREPARE_PLACEHOLDERS,
                         *config.PARAMETER_PLACEHOLDERS},
    }
    for heading, keys in expected.items():
        documented = table_keys(text, heading)
        assert len(documented) == len(set(documented)), (heading, documented)
        assert set(documented) == set(keys), (heading, set(documented) ^ set(keys))


def slug(heading):
    """A heading's anchor as GitHub makes it."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path):
    return {slug(line.lstrip("#")) for line in path.read_text().splitlines()
            if line.startswith("#")}


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_link_resolves(doc):
    broken = []
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)  # code is not links
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(target)
    assert not broken, broken


def test_the_link_check_can_fail(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("# Here\n[a](missing.md) [b](#here) [c](#nowhere)\n")
    assert anchors(doc) == {"here"}
    assert [t for t in LINK.findall(doc.read_text())] == ["missing.md", "#here", "#nowhere"]
    assert not (tmp_path / "missing.md").exists()
    assert "nowhere" not in anchors(doc)


def test_the_readmes_options_table_is_the_parsers():
    """README.md holds the table nas.cli.options_table() renders from the parser: every
    flag, as --help says it."""
    from nas.cli import options_table

    readme = (ROOT / "README.md").read_text()
    assert options_table() in readme, ("README.md's options table differs from the parser's: "
                                       'python -c "import nas.cli as c; print(c.options_table())"')


def test_the_readmes_picture_is_made_by_its_command(small_run, tmp_path):
    """scripts/page_png.py draws a results page with its plots, as README.md says it made
    docs/report.png (from the session's small search here): a PNG as large as asked, with
    the colours of drawn plots, not a blank or half-loaded page."""
    import shutil
    import subprocess
    import sys

    from PIL import Image

    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("needs Debian's chromium")
    readme = (ROOT / "README.md").read_text()
    assert "python scripts/page_png.py results/index.html\ndocs/report.png" in readme \
        or "python scripts/page_png.py results/index.html docs/report.png" in readme
    results, _ = small_run
    png = tmp_path / "page.png"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "page_png.py"),
                           results / "index.html", png], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    image = Image.open(png).convert("RGB")
    assert image.size == (1300, 1500)
    colours = dict((rgb, n) for n, rgb in image.getcolors(maxcolors=2_000_000))
    # a drawn plotly plot: its plot area's background (plotly's default #E5ECF6) fills
    # tens of thousands of pixels of the page's top; a page whose plots did not draw has none
    assert colours.get((229, 236, 246), 0) > 20_000, sorted(colours.items(), key=lambda kv: -kv[1])[:5]
    committed = Image.open(ROOT / "docs" / "report.png")
    assert committed.size == (1300, 1500) and committed.format == "PNG"
