"""The one kind of error a user can fix: its message is one line naming the problem and the
way out. Lower layers raise it (or a subclass); run_nas.py prints it and exits with
`exit_status` (2: bad input, refused before anything starts; 1: the run failed)."""


class NasError(Exception):
    exit_status = 2
