"""A kernel client for executing notebooks that does not lose kernel replies on a busy CPU.

The bug (jupyter_client 8.x + pyzmq's asyncio sockets; seen with nbclient, i.e. ``make test``,
``make site``/``handouts``, ``benchmarks/`` and ``jupyter nbconvert --execute``)
    ``Session.send`` sends on a *synchronous shadow* of the client's ``zmq.asyncio`` socket.  A
    libzmq send also processes the socket's pending commands, and so drains the socket's
    edge-triggered ``ZMQ_FD``.  If a reply had just arrived on that socket (its "activate read"
    command was pending), the FD is drained without anybody looking at ``ZMQ_EVENTS`` afterwards,
    as libzmq requires after every send ("after calling zmq_send the socket may become readable
    without triggering a read event on the file descriptor").  pyzmq's asyncio socket only checks
    ``ZMQ_EVENTS`` when *it* performs an operation, so its pending ``poll()`` never wakes: the
    reply sits in the socket and the event loop sleeps forever.
    nbclient sends on the shell socket while it waits for a reply on that same socket: the
    mimic of an ``ipywidgets.Output`` widget syncs its state back to the kernel (a ``comm_msg``)
    for every output the widget receives (``interact`` redraws, ``lecture_lib.widgets``).
    Whether the execute reply arrives just before that send is timing: on a quiet machine it
    (almost) never does; on a loaded one (two busy loops on two cores) notebook 03 hung in 3 of
    4 runs, always at its first ``live_plot`` cell (``benchmarks/hang_results.md``).
    Upstream: jupyter/jupyter_client PR #1059 (open, unmerged) discusses the shadow send.

The cure (this module)
    :class:`EdgeSafeAsyncZMQSocketChannel` re-reads ``ZMQ_EVENTS`` through the asyncio socket
    after every send.  pyzmq's ``Socket.get(EVENTS)`` then schedules the handling of whatever is
    ready, so a pending ``poll()``/``recv()`` resolves.  As a second line of defence its
    ``get_msg`` waits in slices of :data:`POLL_SLICE_S` seconds; each new slice checks
    ``ZMQ_EVENTS`` before it sleeps, so any other lost wake-up costs at most one slice instead
    of the cell timeout.  A message found only when a slice ended is counted in
    :data:`RECOVERED` (debug log).  That count is an upper bound of lost wake-ups: on a loaded
    CPU a wake-up that the event loop handles late, just after a slice's end, counts too
    (notebook 03 under load: 1-4 per run with the re-arm in place, each costing at most
    :data:`POLL_SLICE_S`).

Used by: ``coursekit.execute`` (the notebook tests, the site, the handouts),
``benchmarks/run_benchmarks.py`` (``notebook_kernel_manager_class``; ``benchmarks/seed_sweep.py``
runs that worker), ``benchmarks/hang_reproducer.py`` (``--without-fix``: the stock client),
``jupyter nbconvert --execute`` with ``jupyter_config/`` on ``JUPYTER_CONFIG_PATH``
(``jupyter_config/jupyter_nbconvert_config.py``; ``make lectures`` sets it, so JupyterLab's
terminals have it).  JupyterLab itself is not affected: jupyter_server talks to kernels through
``ZMQStream``, which queues its sends and re-checks ``ZMQ_EVENTS`` after each.  nbval uses the
blocking client (``zmq_poll``, level-triggered): not affected either.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import typing as t
import uuid
from queue import Empty

import zmq
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from traitlets import Type, default

__all__ = ["EdgeSafeAsyncZMQSocketChannel", "EdgeSafeAsyncKernelClient",
           "EdgeSafeAsyncKernelManager", "POLL_SLICE_S", "RECOVERED"]

log = logging.getLogger(__name__)

#: Longest sleep of ``get_msg`` before it re-checks the socket (seconds).
POLL_SLICE_S = 1.0
#: Messages found only when a poll slice ended (probably lost wake-ups), this process.
RECOVERED = 0


class EdgeSafeAsyncZMQSocketChannel(AsyncZMQSocketChannel):
    """``AsyncZMQSocketChannel`` that re-arms the asyncio socket after each (shadow) send."""

    def send(self, msg: dict[str, t.Any]) -> None:
        super().send(msg)  # Session.send: a blocking send on a sync shadow of self.socket
        self.rearm()

    def rearm(self) -> None:
        """Read ``ZMQ_EVENTS`` through the asyncio socket, which schedules its pending futures."""
        sock = self.socket
        if sock is not None and not sock.closed:
            sock.get(zmq.EVENTS)

    async def get_msg(self, timeout: float | None = None) -> dict[str, t.Any]:  # type: ignore[override]
        """Gets a message if there is one that is ready (``Empty`` after ``timeout`` seconds)."""
        global RECOVERED
        assert self.socket is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            wait = POLL_SLICE_S if left is None else min(POLL_SLICE_S, left)
            t0 = time.monotonic()
            if await self.socket.poll(int(wait * 1000)):
                if wait > 0 and time.monotonic() - t0 >= wait:
                    # found by the slice's closing zmq_poll, not by a wake-up: most likely a lost
                    # wake-up (or a message that came in the last instant of the slice)
                    RECOVERED += 1
                    log.debug("kernel client: message on %r found at the end of a %.1f s poll "
                              "slice (%d so far)", self.socket, wait, RECOVERED)
                return await self._recv()
            if left is not None and left <= wait:
                raise Empty


class EdgeSafeAsyncKernelClient(AsyncKernelClient):
    """``AsyncKernelClient`` whose ZMQ channels are :class:`EdgeSafeAsyncZMQSocketChannel`."""

    shell_channel_class = Type(EdgeSafeAsyncZMQSocketChannel)  # type: ignore[assignment]
    iopub_channel_class = Type(EdgeSafeAsyncZMQSocketChannel)  # type: ignore[assignment]
    stdin_channel_class = Type(EdgeSafeAsyncZMQSocketChannel)  # type: ignore[assignment]
    control_channel_class = Type(EdgeSafeAsyncZMQSocketChannel)  # type: ignore[assignment]


class EdgeSafeAsyncKernelManager(AsyncKernelManager):
    """``AsyncKernelManager`` whose ``client()`` is an :class:`EdgeSafeAsyncKernelClient`.

    Pass it to nbclient: ``NotebookClient(nb, kernel_manager_class=EdgeSafeAsyncKernelManager)``.

    With ``transport = "ipc"`` and no connection file (nbclient starts kernels without one),
    jupyter_client names the sockets ``kernel-ipc-<n>`` *relative to the current directory*; the
    kernel runs in the notebook's directory, the client in another, so they never meet ("Kernel
    didn't respond in 60 seconds").  Here the connection file, and so the sockets next to it, go
    to a short private (0700) directory made for this kernel (removed with it).  TCP, the default
    for nbclient here (``jupyter_config/jupyter_server_config.py``'s IPC setting is read only by
    Jupyter servers, which give every kernel an absolute connection file), is unchanged.
    """

    _private_dir: str | None = None

    @default("client_factory")
    def _client_factory_default(self) -> type:
        return EdgeSafeAsyncKernelClient

    @default("ip")
    def _ip_default(self) -> str:
        if self.transport == "ipc" and not self.connection_file:
            self._private_dir = tempfile.mkdtemp(prefix="ck-kernel-", dir="/tmp")  # mode 0700
            self.connection_file = os.path.join(self._private_dir, f"kernel-{uuid.uuid4()}.json")
        return super()._ip_default()

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart and self._private_dir:
            shutil.rmtree(self._private_dir, ignore_errors=True)
            self._private_dir = None

    cleanup_resources = _async_cleanup_resources  # an async manager's is the coroutine itself
