"""Ctrl-C and SIGTERM end a command within seconds, in one line, whatever it is doing.

The ``insights`` process that a terminal or a service manager signals is a small supervisor: the
command itself runs in a forked child, in a process group of its own with everything it starts
(Prefect's temporary server, Dask's local workers). On SIGINT, SIGTERM or SIGHUP the supervisor
passes SIGINT to the child, which unwinds (the run lock released, the manifest written, Prefect
told) with its terminal output silenced unless ``--debug``. Whatever of the group still runs
``GRACE_SECONDS`` later (a query deep in native code, a Prefect client retrying a server that is
gone) is killed. A second signal kills at once. A supervisor that dies without a word (SIGKILL to
its process group, as a scheduler sends it) takes the command's group with it at once: a watcher in
that group, blocked on a pipe only the supervisor writes, kills the group when the pipe closes.

Nothing half-written is visible either way: every file is staged and published by an atomic
rename, the lake by its state file, the warehouse by its commit (a build killed inside its commit
leaves the warehouse refused to readers, never mixed, until the next build commits), and the next
run clears what the interrupted one staged.
"""

from __future__ import annotations

import os
import signal
import sys
import time

GRACE_SECONDS = 6.0
"""How long an interrupted command may take to unwind before its process group is killed."""

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
"""The shell's convention: 128 + the signal's number."""

def supervised(command: str, debug: bool, writes: bool = True) -> int | None:
    """Fork: in the child, return None and carry on with the command; in this process, wait for the
    child, pass signals on, and return the exit code to leave with.

    ``command`` names what runs (``insights run``), for the one line an interruption prints;
    ``writes``: whether it writes the data directory (a server only reads it).
    """
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    alive, held = os.pipe()  # ``held`` stays open in the supervisor alone, until it ends
    child = os.fork()
    if child == 0:
        os.close(held)
        _become_child(alive, debug)
        return None
    os.close(alive)
    return _supervise(child, command, writes)


def _become_child(alive: int, debug: bool) -> None:
    os.setpgid(0, 0)  # the terminal's Ctrl-C reaches the supervisor only; it decides what the group gets
    if os.fork() == 0:
        _watch(alive)
    os.close(alive)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)

    def interrupted(number, frame):
        if not debug:
            _silence()
        signal.default_int_handler(number, frame)

    # SIGINT from the supervisor; SIGTERM where a service manager signals every process of the command
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, interrupted)


def _watch(alive: int) -> None:
    """The command's watcher: wait, in a read no signal ends, for the supervisor to be gone (its end of
    the pipe closed, however it ended), then kill the command's process group, itself included."""
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_IGN)
    while True:
        try:
            if not os.read(alive, 1):
                break
        except InterruptedError:
            continue
        except OSError:
            break
    os.killpg(0, signal.SIGKILL)
    os._exit(0)


def _silence() -> None:
    """Send this process's stdout and stderr to /dev/null: an interrupted command's unwinding (Prefect's
    crash report, a retrying client) is not the user's business; the supervisor prints one line."""
    null = os.open(os.devnull, os.O_WRONLY)
    for descriptor in (1, 2):
        os.dup2(null, descriptor)
    os.close(null)


def _supervise(child: int, command: str, writes: bool) -> int:
    received: list[int] = []

    def forward(number, _frame):
        received.append(number)
        if len(received) == 1:
            _signal_group(child, signal.SIGINT, only_leader=True)
        else:
            _signal_group(child, signal.SIGKILL)

    for number in EXIT_CODES:
        signal.signal(number, forward)
    status = _wait(child, received)
    if not received:
        if os.WIFSIGNALED(status):
            sys.stderr.write(f"insights: error: {command} was killed by signal {os.WTERMSIG(status)} "
                             f"({signal.Signals(os.WTERMSIG(status)).name})\n")
            return 128 + os.WTERMSIG(status)
        return os.waitstatus_to_exitcode(status)
    _signal_group(child, signal.SIGKILL)  # whatever it started and left behind
    how = "Ctrl-C" if received[0] == signal.SIGINT else signal.Signals(received[0]).name
    if writes:
        sys.stderr.write(f"insights: {command} interrupted ({how}); nothing half-written is visible, "
                         "and the next run clears what it left\n")
    else:
        sys.stderr.write(f"insights: {command} stopped ({how})\n")
    return EXIT_CODES[received[0]]


def _wait(child: int, received: list[int]) -> int:
    """The child's wait status; once a signal came, at most ``GRACE_SECONDS`` before the group is killed.

    Polls every 50 ms (a command's end is seen at once, for a few wakeups a second): a blocking wait
    would resume after the signal handler (PEP 475) and never see the deadline."""
    deadline = None
    while True:
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid == child:
            return status
        if received and deadline is None:
            deadline = time.monotonic() + GRACE_SECONDS
        elif deadline is not None and time.monotonic() >= deadline:
            _signal_group(child, signal.SIGKILL)
            deadline = float("inf")
        time.sleep(0.05)


def _signal_group(child: int, number: int, only_leader: bool = False) -> None:
    try:
        if only_leader:
            os.kill(child, number)
        else:
            os.killpg(child, number)
    except ProcessLookupError:
        pass
