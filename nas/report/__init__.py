"""Results and report: the run's facts computed once (summary), and their renderers: the
results files and the one-page report, the console, the progress line."""
