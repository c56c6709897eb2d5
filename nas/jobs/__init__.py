"""Trial jobs and their schedulers: how a trial starts (locally, warm or cold; on Slurm; in a
container), how its state is read back, how it is stopped, and why it failed."""
