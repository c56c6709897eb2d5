"""The one kind of error a user can fix: its message is one line naming the problem and the
way out. The library raises it (or a subclass: `nas.ConfigError`, ...); `str(error)`
names options as `nas.Search.from_config` takes them, `error.for_command_line()` as
run_nas.py's flags (nas/messages.py), which run_nas.py prints before exiting with
`exit_status` (2: bad input, refused before anything started; 1: the run failed)."""

from nas.messages import for_command_line, render


class NasError(Exception):
    exit_status = 2

    @property
    def raw(self) -> str:
        """The message with its option marks, for a message that wraps this one."""
        return str(self.args[0]) if self.args else type(self).__name__

    def __str__(self) -> str:
        return render(self.raw)

    def for_command_line(self) -> str:
        return for_command_line(self.raw)
