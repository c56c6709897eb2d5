"""Text of the user's making never runs in a page: a real search whose config name, a
string parameter's values, a metric's tag and the trials' failure reasons hold markup
and script, its every HTML file opened in headless Chromium: nothing of it runs (the title
and the DOM as the report made them) and it shows as text."""

import json

import pandas as pd
import pytest

from conftest import ROOT, run_driver
from test_browser import CHROMIUM, CHROMEDRIVER, open_page, wait_for_plots

SCRIPT = ROOT / "tests" / "scripts" / "steady_trial.py"
NAME = "<img src=x onerror=\"document.title='pwned';window.pwned=1\">"
SCRIPT_BREAK = "</script><script>document.title='pwned';window.pwned=2</script>"
BOLD = "<b>bold</b>"
TAG = "<i onmouseover=alert(1)>score</i>"

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs Debian's chromium and chromium-driver")


def toml(value):
    return json.dumps(value)  # a JSON string is a TOML basic string


@pytest.fixture(scope="module")
def markup_run(tmp_path_factory):
    """6 trials of tests/scripts/steady_trial.py: the label parameter takes markup; the
    trials labelled SCRIPT_BREAK fail with it in their stderr (so in their reason), those
    labelled BOLD log no score (their reason names the tags they hold)."""
    tmp = tmp_path_factory.mktemp("markup")
    config = tmp / "markup.toml"
    config.write_text(f"""name = {toml(NAME)}
[trial]
script = {toml(str(SCRIPT))}
args = ["--log-dir", "{{log_dir}}", "--seconds", "0", "--score-tag", {toml(TAG.replace("{", "{{"))},
        "--fail-on", {toml(SCRIPT_BREAK)}, "--no-score-on", {toml(BOLD)}]
[search]
trials = 6
max_pending = 2
[parameters]
x = {{ parameter_type = "float", bounds = [0.0, 1.0] }}
y = {{ parameter_type = "float", bounds = [0.0, 1.0] }}
label = {{ parameter_type = "str", values = [{toml(NAME)}, {toml(SCRIPT_BREAK)}, {toml(BOLD)}, "plain"] }}
[optimization]
objective = "score, -cost"
[metrics]
score = {{ tag = {toml(TAG)} }}
""")
    results = tmp / "r"
    proc = run_driver("--config", config, "--seed", 0, "--results-dir", results, cwd=tmp)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return results


def test_the_search_carries_the_markup_to_every_page(markup_run):
    """The test can fail: the texts are there to be escaped."""
    df = pd.read_csv(markup_run / "experiment.csv")
    assert {NAME, SCRIPT_BREAK, BOLD} <= set(df["label"]), df["label"].tolist()
    failed = df[df["trial_status"] == "FAILED"]
    assert failed["reason"].str.contains(SCRIPT_BREAK, regex=False).any()
    assert failed["reason"].str.contains(f"logged no finite {TAG}", regex=False).any()
    assert (df["trial_status"] == "COMPLETED").sum() >= 2  # the model plots are made


PAGE_STATE = """
const texts = Array.from(document.querySelectorAll('svg text')).map(t => t.textContent);
return {title: document.title, pwned: window.pwned || null,
        imgs: document.querySelectorAll('img').length,
        bold: document.querySelectorAll('b').length,
        body: document.body.innerText, svg: texts.join('\\n')};
"""


def test_no_page_runs_or_renders_what_the_config_holds(markup_run, tmp_path):
    pages = sorted(markup_run.glob("*.html"))
    assert {"index.html", "experiment.html", "pareto_frontier.html", "cross_validation.html",
            "contour_score.html", "learning_curves.html"} <= {p.name for p in pages}
    for path in pages:
        driver = open_page(path, tmp_path / f"profile-{path.stem}")
        try:
            plots = wait_for_plots(driver) if path.name == "index.html" else None
            state = driver.execute_script(PAGE_STATE)
            hovers = hover_texts(driver)
        finally:
            driver.quit()
        where = f"{path.name}: {state['title']!r}"
        assert state["pwned"] is None and state["title"] != "pwned", where
        assert state["imgs"] == 0 and state["bold"] == 0, where
        shown = state["body"] + state["svg"] + hovers
        if path.name in ("index.html", "experiment.html"):
            assert state["title"].startswith(NAME), where  # the name, as text
            assert NAME in state["body"] and SCRIPT_BREAK in state["body"], where
        if path.name == "index.html":
            assert all(p["svg"] for p in plots), plots
            for text in (NAME, SCRIPT_BREAK, BOLD, TAG):
                assert text in shown, (where, text)
        if path.name == "pareto_frontier.html":
            assert BOLD in hovers or NAME in hovers, where  # the label in the hover text


HOVER_TEXTS = """
const out = [];
for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    for (const trace of gd.data || []) {
        for (const key of ['text', 'hovertext', 'name']) {
            const v = trace[key];
            if (typeof v === 'string') out.push(v); else if (Array.isArray(v)) out.push(...v.map(String));
        }
    }
}
const box = document.createElement('div');
return out.map(s => { box.innerHTML = s.replace(/<br>/g, '\\n'); return box.textContent; }).join('\\n');
"""


def hover_texts(driver):
    """The figures' hover texts and trace names as plotly shows them (its markup
    rendered, entities decoded)."""
    return driver.execute_script(HOVER_TEXTS)
