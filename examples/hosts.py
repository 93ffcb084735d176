"""Many hosts: joining the other processes, agreeing on errors, and ending cleanly when one is lost.

* :func:`start_jax` joins the processes with ``jax.distributed`` (one process
  per host, process 0 the coordinator) and checks that JAX has its devices.
* :func:`agree` lets every process learn of an error on any of them, so that
  bad input on one host stops all of them with one line each.
* When a process dies (SIGKILL, out of memory, a node lost), every other one
  prints one line naming it and how to resume, and exits with code 3:
  :class:`Watchdog` and :func:`supervise`.

Why this needs code of its own: JAX's coordination service notices a silent
process after its heartbeat timeout and then aborts every other process with a
native stack trace, and when process 0 (which runs the service) dies, the
others abort at once; ``jax.distributed.initialize`` offers no hook, and
jaxlib's missed-heartbeat callback cannot be given from Python. So:

* :class:`Watchdog` is one TCP connection from every process to process 0,
  beside JAX's own: a process that dies closes its end at once (the kernel does
  it, even after SIGKILL), and a host that vanishes stops its once-a-second
  beat; either is noticed within :data:`WATCHDOG_TIMEOUT_S`, well before JAX's
  :data:`JAX_HEARTBEAT_TIMEOUT_S`, and the survivors exit with one line.
* :func:`supervise` runs the trainer of a many-host run as a child process and
  relays its output; if JAX aborts the child all the same (process 0 lost),
  it keeps the native stack trace off the terminal and prints the one line.
"""

from __future__ import annotations

import inspect
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import numpy as np

from common import EXIT_ENVIRONMENT, EXIT_INPUT, EnvironmentFailure, InputError, one_line

JAX_HEARTBEAT_TIMEOUT_S = 60  # JAX aborts the others this long after a process is lost
WATCHDOG_TIMEOUT_S = 10  # the watchdog's own limit: a peer silent this long is lost
BEAT_S = 1.0  # how often each end of a watchdog connection says it is alive
INITIALIZATION_TIMEOUT_S = 120  # how long to wait for every process to join



def _heartbeat(initialize) -> dict:
    """``heartbeat_timeout_seconds`` for ``jax.distributed.initialize`` where this JAX takes it
    (newer releases); an older one keeps its own timeout, which the watchdog beats either way."""
    if "heartbeat_timeout_seconds" in inspect.signature(initialize).parameters:
        return {"heartbeat_timeout_seconds": JAX_HEARTBEAT_TIMEOUT_S}
    return {}


def start_jax(coordinator_address: str | None, num_processes: int | None,
              process_id: int | None) -> None:
    """Join the other processes (when ``num_processes`` is given) and make sure JAX
    has its devices. Raises :class:`EnvironmentFailure` if JAX cannot start."""
    import jax

    try:
        if num_processes is not None:
            jax.distributed.initialize(
                coordinator_address, int(num_processes), int(process_id),
                initialization_timeout=INITIALIZATION_TIMEOUT_S, **_heartbeat(jax.distributed.initialize))
        jax.devices()
    except Exception as e:  # noqa: BLE001 - a missing backend raises RuntimeError, others vary
        platforms = os.environ.get("JAX_PLATFORMS")
        where = f" with JAX_PLATFORMS={platforms}" if platforms else ""
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise EnvironmentFailure(f"JAX could not start{where}: {one_line(first)}") from None


class Watchdog:
    """Ends this process with one line and exit code 3 when another process is lost.

    Process 0 listens on a free port (sent to the others with
    ``multihost_utils.broadcast_one_to_all``); every other process connects to
    it at the coordinator's host. Each end sends a byte every :data:`BEAT_S`.
    Process 0 watches every connection; a connection that closes or stays
    silent for :data:`WATCHDOG_TIMEOUT_S` means that process is lost, and
    process 0 tells the others which before it exits. The others watch their
    connection to process 0 the same way. :meth:`done` (every process has
    reached the same point of a clean exit) turns the watching off, so that
    the processes may then end in any order. ``message(lost)`` is the line to
    print: ``lost`` names the lost process.
    """

    def __init__(self, coordinator_host: str, process_id: int, num_processes: int,
                 message: Callable[[str], str]):
        from jax.experimental import multihost_utils

        self.process_id, self.message = process_id, message
        self._done = threading.Event()
        server = socket.create_server(("", 0)) if process_id == 0 else None
        port = server.getsockname()[1] if server else 0
        port = int(multihost_utils.broadcast_one_to_all(np.int32(port)))
        if server is not None:
            server.settimeout(WATCHDOG_TIMEOUT_S)
            self.peers: dict[socket.socket, int] = {}
            try:
                while len(self.peers) < num_processes - 1:
                    conn, _ = server.accept()
                    conn.settimeout(WATCHDOG_TIMEOUT_S)
                    self.peers[conn] = int.from_bytes(_recv_exactly(conn, 4), "big")
            except OSError as e:
                raise EnvironmentFailure(f"the other processes did not connect to the watchdog "
                                         f"on port {port}: {one_line(e)}") from None
            finally:
                server.close()
        else:
            try:
                conn = socket.create_connection((coordinator_host, port), timeout=WATCHDOG_TIMEOUT_S)
                conn.sendall(process_id.to_bytes(4, "big"))
            except OSError as e:
                raise EnvironmentFailure(f"cannot reach process 0's watchdog at {coordinator_host}:"
                                         f"{port}: {one_line(e)}") from None
            self.peers = {conn: 0}
        for conn in self.peers:
            conn.setblocking(False)
        self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)
        self._thread.start()

    def wait_for_loss(self) -> None:
        """After an unexpected error (a collective that failed, say): give the watchdog the
        time to tell whether a process was lost (then it ends this process) before the
        error is reported."""
        if not self._done.is_set():
            self._thread.join(WATCHDOG_TIMEOUT_S + 2 * BEAT_S)

    def done(self) -> None:
        """Every process is ending cleanly: stop watching, and tell the others so."""
        if not self._done.is_set():
            self._done.set()
            self._send(b"d")

    def _send(self, byte: bytes) -> None:
        for conn in list(self.peers):
            try:
                conn.send(byte)
            except OSError:
                pass

    def _watch(self) -> None:
        last_heard = {conn: time.monotonic() for conn in self.peers}
        next_beat = 0.0
        while not self._done.is_set():
            now = time.monotonic()
            if now >= next_beat:
                self._send(b".")
                next_beat = now + BEAT_S
            readable, _, _ = select.select(list(self.peers), [], [], BEAT_S)
            for conn in readable:
                try:
                    data = conn.recv(64)
                except OSError:
                    data = b""
                if not data:  # closed: that process is gone
                    return self._lost(self.peers[conn])
                last_heard[conn] = time.monotonic()
                if b"d" in data:  # it ends cleanly: so do we
                    self._done.set()
                    return
                if b"L" in data:  # process 0 reports a lost process
                    lost = int(data[data.index(b"L") + 1 :].split(b";")[0] or b"-1")
                    return self._lost(lost)
            for conn, heard in last_heard.items():
                if time.monotonic() - heard > WATCHDOG_TIMEOUT_S:
                    return self._lost(self.peers[conn])

    def _lost(self, process: int) -> None:
        time.sleep(BEAT_S)  # a peer that ended cleanly a moment before us: let done() arrive
        if self._done.is_set():
            return
        if self.process_id == 0:
            self._send(b"L%d;" % process)
        name = f"process {process}" if process >= 0 else "another process"
        print(self.message(name), file=sys.stderr, flush=True)
        os._exit(EXIT_ENVIRONMENT)  # the main thread may be blocked in a collective


WORKER_ENV = "JELU_TRAIN_SUPERVISOR_PID"  # set in the child: its supervisor's pid
# The first line JAX's distributed runtime logs when another process is gone (a
# warning or error about the coordination service, preemption or heartbeats),
# and the line of its fatal error (after which it aborts).
_JAX_TROUBLE = re.compile(rb"[WEF]\d{4} [^\n]*(coordination|preemption|heartbeat|Terminating process)",
                          re.IGNORECASE)
_JAX_FATAL = re.compile(rb"F\d{4} [^\n]*Terminating process|Polled an error from coordination service")
_GLOG_LINE = re.compile(rb"[IWEF]\d{4} \d\d:\d\d:\d\d")


def is_supervised() -> bool:
    """Whether this process is the trainer that :func:`supervise` started. Also makes
    sure it dies with its supervisor (Linux: ``PR_SET_PDEATHSIG``)."""
    parent = os.environ.get(WORKER_ENV)
    if parent is None:
        return False
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: a killed supervisor leaves it running
        pass
    if os.getppid() != int(parent):  # the supervisor died before prctl took effect
        os._exit(EXIT_ENVIRONMENT)
    return True


def supervise(command: list[str], lost_message: Callable[[str], str]) -> int:
    """Run ``command`` (the trainer, one process of a many-host run) as a child and
    return its exit code; its stdout is this process's, its stderr is relayed.

    From the first line JAX's distributed runtime logs about the coordination
    service, preemption or heartbeats (signs that another process is gone), the
    child's stderr is held back. If the child then dies of a signal or JAX's fatal
    error (a native stack trace follows it), ``lost_message(who)`` is printed
    instead, ``who`` naming the lost process as far as JAX's messages tell, and
    the exit code is :data:`common.EXIT_ENVIRONMENT`; otherwise the child's own
    error lines among what was held back are written out (all of it if it has none). SIGINT reaches the child from the terminal; SIGTERM is
    passed on to it.
    """
    env = {**os.environ, WORKER_ENV: str(os.getpid())}
    child = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    previous = {signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
                signal.SIGTERM: signal.signal(signal.SIGTERM, lambda *_: child.terminate())}
    held, tail = b"", b""
    try:
        while chunk := os.read(child.stderr.fileno(), 1 << 16):
            if held:
                held += chunk
                continue
            text = tail + chunk
            match = _JAX_TROUBLE.search(text)
            if match is None:
                sys.stderr.buffer.write(chunk)
                sys.stderr.flush()
                tail = text[-512:]
                continue
            start = text.rfind(b"\n", 0, match.start()) + 1
            sys.stderr.buffer.write(text[len(tail) : max(start, len(tail))])
            sys.stderr.flush()
            held = text[start:]
        code = child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if code < 0 or _JAX_FATAL.search(held):
        print(lost_message(_who_was_lost(held)), file=sys.stderr, flush=True)
        return EXIT_ENVIRONMENT
    own = [line for line in held.splitlines(keepends=True)
           if b": error: " in line and not _GLOG_LINE.match(line)]
    # The child ended on its own: keep its own error line, without the runtime's
    # noise before it; with no error line of its own there is nothing to hide.
    sys.stderr.buffer.write(b"".join(own) if code and own else held)
    sys.stderr.flush()
    return code


def _who_was_lost(jax_message: bytes) -> str:
    """The lost process, as JAX's fatal message names it."""
    text = jax_message.decode(errors="replace")
    unhealthy = re.search(r"stopped sending heartbeats\):\s*([\d,\s]+)", text)
    if unhealthy and re.findall(r"\d+", unhealthy.group(1)):
        return "process " + ", ".join(re.findall(r"\d+", unhealthy.group(1)))
    if "leader task" in text or "PollForError" in text:
        return "process 0"
    return "another process"


def _recv_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def agree(error: Exception | None, fingerprint: str = "") -> None:
    """Raise ``error`` here, or an error on every process if any process had one.

    On many hosts each process reports its status (and the fingerprint of its
    data, which must agree) to all the others, so an error on one host stops
    every host with one line each instead of leaving the others waiting.
    """
    import jax

    if jax.process_count() == 1:
        if error is not None:
            raise error
        return
    from jax.experimental import multihost_utils

    code = 0 if error is None else (EXIT_ENVIRONMENT if isinstance(error, EnvironmentFailure)
                                    else EXIT_INPUT)
    mine = np.array([code, *bytes.fromhex(fingerprint[:16].ljust(16, "0"))], np.int32)
    try:
        every = np.asarray(multihost_utils.process_allgather(mine))
    except Exception as e:  # noqa: BLE001
        raise EnvironmentFailure(f"lost contact with the other processes: {one_line(e)}") from None
    if error is not None:
        raise error
    failed = [i for i, row in enumerate(every) if row[0]]
    if failed:
        kind = EnvironmentFailure if every[failed[0]][0] == EXIT_ENVIRONMENT else InputError
        raise kind(f"process {failed[0]} stopped with an error (see its message); stopping too")
    if fingerprint and any((row[1:] != every[0][1:]).any() for row in every):
        raise InputError("the processes loaded different data (--data must be the same file "
                         "on every host)")
