"""coursekit.kernel_client: a reply that arrives just before the client sends on the same socket
is still received (the hang of notebook execution on a busy CPU; see the module docstring).

The race is made deterministic with an in-process ``inproc://`` pair: the fake kernel's reply puts
its wake-up on the client socket's ZMQ_FD at once, and the client's send (a blocking send on a
sync shadow, as ``Session.send`` does) drains it before the event loop looks.  No kernel, < 1 s.
"""
from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import pytest
import zmq
import zmq.asyncio
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.session import Session

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from coursekit import kernel_client as kcm  # noqa: E402

WAIT_S = 2.0  # how long the client may take to see the reply (it is already in its socket)


async def _reply_then_send(channel_cls) -> dict | None:
    """The client waits for a reply; the reply lands, then the client sends: is it received?"""
    ctx = zmq.asyncio.Context()
    sync_ctx = zmq.Context.shadow(ctx.underlying)  # inproc needs the same libzmq context
    url = f"inproc://kernel-{uuid.uuid4().hex}"
    kernel = sync_ctx.socket(zmq.ROUTER)
    kernel.bind(url)
    client_sock = ctx.socket(zmq.DEALER)
    client_sock.connect(url)
    session = Session(key=b"")
    channel = channel_cls(client_sock, session)
    try:
        channel.send(session.msg("execute_request", content={"code": "1"}))
        ident, _ = session.feed_identities(kernel.recv_multipart())  # the kernel learns the peer
        waiting = asyncio.ensure_future(channel.get_msg(timeout=30))
        await asyncio.sleep(0.2)  # the client's poll is registered; the loop sleeps in select
        assert not waiting.done()
        # No await from here on: the event loop cannot run between the reply and the send.
        session.send(kernel, "execute_reply", content={"status": "ok"}, ident=ident)
        channel.send(session.msg("comm_msg", content={"data": {}}))  # Output-widget state sync
        try:
            return await asyncio.wait_for(waiting, WAIT_S)
        except asyncio.TimeoutError:
            return None
    finally:
        client_sock.close(linger=0)
        kernel.close(linger=0)
        ctx.term()


def _run(channel_cls):
    return asyncio.run(_reply_then_send(channel_cls))


def test_plain_channel_loses_the_reply():
    """The upstream behaviour this module works around (if this starts failing, jupyter_client or
    pyzmq fixed it: coursekit.kernel_client may become unnecessary)."""
    assert _run(AsyncZMQSocketChannel) is None


def test_rearm_after_send_receives_the_reply(monkeypatch):
    monkeypatch.setattr(kcm, "POLL_SLICE_S", 600.0)  # the re-arm alone, without the slices
    msg = _run(kcm.EdgeSafeAsyncZMQSocketChannel)
    assert msg is not None and msg["msg_type"] == "execute_reply"


def test_poll_slices_recover_a_lost_wakeup(monkeypatch):
    """Second line of defence: with the re-arm disabled, the next slice finds the reply."""
    monkeypatch.setattr(kcm, "POLL_SLICE_S", 0.5)
    monkeypatch.setattr(kcm.EdgeSafeAsyncZMQSocketChannel, "rearm", lambda self: None)
    before = kcm.RECOVERED
    msg = _run(kcm.EdgeSafeAsyncZMQSocketChannel)
    assert msg is not None and msg["msg_type"] == "execute_reply"
    assert kcm.RECOVERED == before + 1


def test_get_msg_timeout_still_raises_empty(monkeypatch):
    from queue import Empty

    monkeypatch.setattr(kcm, "POLL_SLICE_S", 0.1)

    async def main():
        ctx = zmq.asyncio.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.connect(f"inproc://nobody-{uuid.uuid4().hex}")
        channel = kcm.EdgeSafeAsyncZMQSocketChannel(sock, Session(key=b""))
        try:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            with pytest.raises(Empty):
                await channel.get_msg(timeout=0.35)
            assert 0.3 < loop.time() - t0 < 2.0
            with pytest.raises(Empty):
                await channel.get_msg(timeout=0)
        finally:
            sock.close(linger=0)
            ctx.term()

    asyncio.run(main())


def test_every_nbclient_route_uses_the_edge_safe_client():
    """coursekit.execute (make test / site / handouts), the benchmarks' worker and nbconvert's
    config all build their kernel client from coursekit.kernel_client."""
    from coursekit import execute

    km = execute._kernel_manager_class()()
    assert issubclass(km.client_factory, kcm.EdgeSafeAsyncKernelClient)

    sys.path.insert(0, str(REPO / "benchmarks"))
    import run_benchmarks

    assert run_benchmarks.notebook_kernel_manager_class() is kcm.EdgeSafeAsyncKernelManager

    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("jupyter_nbconvert_config.py", path=str(REPO / "jupyter_config")).load_config()
    assert config.NotebookClient.kernel_manager_class is kcm.EdgeSafeAsyncKernelManager


def test_ipc_without_connection_file_gets_absolute_private_sockets():
    """nbclient starts kernels without a connection file; over IPC jupyter_client would then name
    the sockets ``kernel-ipc-<n>`` relative to the current directory, and a kernel started in the
    notebook's directory never meets its client ("Kernel didn't respond in 60 seconds")."""
    import os
    import stat

    km = kcm.EdgeSafeAsyncKernelManager(transport="ipc")
    try:
        assert os.path.isabs(km.ip)
        folder = os.path.dirname(km.ip)
        assert os.path.dirname(km.connection_file) == folder
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        assert len(f"{km.ip}-{65535}") <= 103  # a UNIX socket path (macOS' limit; Linux 107)
    finally:
        asyncio.run(km.cleanup_resources())
    assert not os.path.exists(folder)
    assert kcm.EdgeSafeAsyncKernelManager().ip == "127.0.0.1"  # TCP: unchanged
