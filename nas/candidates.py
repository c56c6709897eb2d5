"""Candidates made beside the loop: the next configurations are generated while the trials
run, so that a slot that frees takes one at once instead of waiting for a model fit and
an acquisition optimization, and so that polling, launching, saving and the live page go
on while a candidate is made.

`CandidateMaker` owns one thread that calls the generation strategy. The driver's loop
(nas/orchestration.py) asks it for `n` candidates with `request(experiment, n)` and takes
the ones made so far with `take()`, each as soon as it is made (one `gen` call each, not
one call for all `n`: a slot that frees does not wait for the rest of a batch); it
attaches them as Ax CANDIDATE trials and launches them as slots free. How many to ask
for is the loop's decision (`wanted`): the slots free now and those about to free, not a
fixed buffer, since a candidate made long before it runs knows less.

Why a thread and not a process: the generation strategy's state (its generator runs, its
current node, the warm-fitted model of nas/surrogate.py) stays one object, which the state
store saves as before; a process would have to ship the experiment and the strategy both
ways for every candidate. The loop mostly sleeps between polls and torch's kernels release
the GIL, so both go on (tests/test_candidates.py measures a trial end seen while a
candidate is made).

Why a snapshot: the loop changes the experiment (statuses, data, new trials) while a
candidate is made. The thread generates on a clone taken in the loop's thread at the
request, so it sees one consistent state: the completed trials' data, and the running
trials and the candidates not yet launched as pending points.

While the thread generates it holds `strategy_lock`; the saver encodes the strategy only
when it can take that lock at once (`strategy_free`), otherwise it saves the experiment
and the strategy at the next save. A candidate whose trial was not attached is simply
lost with the driver; one attached is saved as a CANDIDATE trial and launched, once, by
the next driver.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import threading
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.ax_compat import experiment_properties
from nas.messages import log

if TYPE_CHECKING:
    from ax.core.experiment import Experiment
    from ax.core.generator_run import GeneratorRun
    from ax.generation_strategy.generation_strategy import GenerationStrategy

GENERATION_LOG = "generation.jsonl"  # beside the search's state: one line per generation


class _Cancelled(BaseException):
    """Raised inside the thread to end a generation the driver no longer needs."""


class CandidateMaker:
    """A thread that makes candidates on request. `log_path`: a JSON-lines file that gets
    two lines per generation, one as it starts ({"started" (epoch seconds), "asked",
    "completed"}) and one as it ends (with "ended", "made", "ready_at" (when each was
    handed over), "pending" (as the generation started), "outcome" added), or None."""

    def __init__(self, generation_strategy: GenerationStrategy, log_path: Path | None = None) -> None:
        self.generation_strategy = generation_strategy
        self.log_path = log_path
        self.strategy_lock = threading.Lock()
        self._state = threading.Condition()
        self._request: tuple[Experiment, int] | None = None
        self._ready: list[GeneratorRun] = []
        self._error: BaseException | None = None
        self._busy = False  # a request is taken or being made
        self._asked_at_completed = 0  # the `completed` of the request being made
        self._closed = False
        # the strategy said it needs more data (Sobol done, BoTorch waits for results) or
        # can make no more: asked again only after a change (`completed` count) / never
        self.needs_data_at: int | None = None
        self.exhausted = False
        # seconds per candidate of the last generation that made some: making n takes
        # about n times that (one call makes them one after the other)
        self.seconds_per_candidate: float | None = None
        # written to whenever the loop should look again (`_wake`): `wait_ready` selects on
        # it with the fds it is given (jobs' pidfds), which a Condition cannot wait on
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._thread = threading.Thread(target=self._work, name="nas-candidates", daemon=True)
        self._thread.start()

    # --- the loop's side ---------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """A request is taken or being made, or candidates made are not taken yet: the
        loop asks for more only after it took them all, since it counts them once they
        are trials (a candidate handed over between the loop's `take()` and its next
        request would otherwise be asked for again)."""
        with self._state:
            return self._busy or bool(self._ready)

    def request(self, experiment: Experiment, n: int, completed: int) -> None:
        """Make `n` candidates for `experiment` as it is now (cloned here, in the caller's
        thread). `completed`: the count of completed trials, which a "needs data" answer is
        tied to. Only while not `busy`."""
        snapshot = experiment.clone_with(
            name=experiment.name, runner=experiment.runner,
            properties_to_keep=list(experiment_properties(experiment)))
        with self._state:
            assert not self._busy and not self._closed
            self._request = (snapshot, n)
            self._busy = True
            self._asked_at_completed = completed
            self._state.notify_all()

    def take(self) -> list[GeneratorRun]:
        """The candidates made since the last call (and raise what the thread raised)."""
        with self._state:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            ready, self._ready = self._ready, []
            return ready

    def wait_ready(self, timeout: float, fds: Collection[int] = ()) -> list[int]:
        """Sleep up to `timeout` seconds, less if a candidate becomes ready, a generation
        ends, or one of `fds` becomes readable meanwhile; returns those of `fds` that
        are readable."""
        try:
            while os.read(self._wake_read, 4096):  # wakes of candidates taken already
                pass
        except BlockingIOError:
            pass
        with self._state:
            if self._ready or self._error is not None:
                return []
        # a wake from here on is in the pipe: select returns at once
        readable, _, _ = select.select([self._wake_read, *fds], [], [], timeout)
        return [fd for fd in readable if fd != self._wake_read]

    def _wake(self) -> None:
        """Wake the loop's `wait_ready` (the Condition is the thread's own: for requests)."""
        try:
            os.write(self._wake_write, b"!")
        except BlockingIOError:  # full: the loop has wakes enough to read
            pass

    @contextmanager
    def strategy_free(self) -> Iterator[bool]:
        """True (and the thread kept from starting a generation) if the strategy is not
        generating now, else False at once: the saver's way to encode it consistently."""
        free = self.strategy_lock.acquire(blocking=False)
        try:
            yield free
        finally:
            if free:
                self.strategy_lock.release()

    def close(self, timeout: float = 60.0) -> None:
        """End the thread: a generation under way is cancelled (raised into at its next
        Python step; torch's kernels finish theirs first) and its candidates dropped."""
        with self._state:
            self._closed = True
            self._request = None
            generating = self._busy
            self._state.notify_all()
        if generating and self._thread.is_alive():
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self._thread.ident or 0), ctypes.py_object(_Cancelled))
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("note: the candidate generation did not end within "
                        f"{timeout:.0f} s; it is left to end with the process")
            return  # the pipe stays: the thread may still write to it
        os.close(self._wake_read)
        os.close(self._wake_write)

    # --- the thread ----------------------------------------------------------------------

    def _work(self) -> None:
        import torch

        # torch's thread count is OpenMP's, kept per thread: this one gets the driver's
        # (nas/generation.py's GENERATION_THREADS), not every core
        torch.set_num_threads(torch.get_num_threads())
        try:
            while True:
                with self._state:
                    while self._request is None and not self._closed:
                        self._state.wait()
                    if self._closed:
                        return
                    assert self._request is not None
                    snapshot, n = self._request
                    self._request = None
                self._generate(snapshot, n)
        except _Cancelled:
            return

    def _generate(self, snapshot: Experiment, n: int) -> None:
        """Make up to `n` candidates one `gen` call each, each handed to the loop as soon as
        it is made: a slot that frees takes the first one without waiting for the whole
        batch. Each one made is attached to the snapshot as a CANDIDATE trial, so the next
        call sees it as a pending point (as one call for `n` would); the refit that each
        call starts with is short, the model starting from its last fit (nas/surrogate.py)
        on the same data."""
        from ax.exceptions.core import DataRequiredError, OptimizationComplete
        from ax.exceptions.generation_strategy import MaxParallelismReachedException

        started = time.time()
        self._record({"started": started, "asked": n, "completed": self._asked_at_completed})
        outcome: str = "made"
        made: list[GeneratorRun] = []
        ready_at: list[float] = []
        error: BaseException | None = None
        try:
            for _ in range(n):
                with self.strategy_lock:
                    runs = self.generation_strategy.gen(experiment=snapshot, n=1, num_trials=1)
                generator_run = runs[0][0]
                snapshot.new_trial(generator_run=generator_run.clone())  # pending from now
                made.append(generator_run)
                ready_at.append(time.time())
                with self._state:
                    if self._closed:
                        break
                    self._ready.append(generator_run)
                    self._wake()
        except (DataRequiredError, MaxParallelismReachedException):
            outcome = "needs data"
        except OptimizationComplete:
            outcome = "exhausted"
        except _Cancelled:
            raise
        except BaseException as e:  # raised in the loop's thread by take()
            outcome = f"failed: {type(e).__name__}"
            error = e
        ended = time.time()
        if made:
            self.seconds_per_candidate = (ended - started) / len(made)
        with self._state:
            if outcome == "needs data":
                self.needs_data_at = self._asked_at_completed
            elif outcome == "exhausted":
                self.exhausted = True
            elif error is not None:
                self._error = error
            self._busy = False
            self._wake()
        self._record({"started": started, "ended": ended, "asked": n, "made": len(made),
                      "ready_at": ready_at, "pending": _pending(snapshot) - len(made),
                      "completed": self._asked_at_completed, "outcome": outcome})

    def _record(self, line: dict[str, Any]) -> None:
        if self.log_path is None:
            return
        try:
            with open(self.log_path, "a") as f:
                f.write(json.dumps(line) + "\n")
        except OSError as e:  # a record for benchmarks and tests, not the search's state
            log.debug(f"generation log not written: {e}")


def _pending(experiment: Experiment) -> int:
    return sum(t.status.name in ("RUNNING", "CANDIDATE", "STAGED")
               for t in experiment.trials.values())


def read_generation_log(log_dir: str | Path) -> list[dict[str, Any]]:
    """The generations of a search's log (GENERATION_LOG in `log_dir`), in order, [] if
    none: each a dict as its end line has it, or its start line only if it never ended (a
    driver killed meanwhile). A partial line (killed while writing it) is skipped."""
    path = Path(log_dir) / GENERATION_LOG
    if not path.exists():
        return []
    generations: dict[float, dict[str, Any]] = {}
    for text in path.read_text().splitlines():
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            continue
        generations[line["started"]] = {**generations.get(line["started"], {}), **line}
    return list(generations.values())
