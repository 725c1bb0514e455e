"""`make lectures` as a student runs it: kernels on IPC sockets, and one Ctrl-C stops it cleanly.

Each test starts the real ``make lectures`` target (``-o`` the install stamp, so nothing is
installed; ``BIN`` = this interpreter's environment; ``LAB_ARGS=--no-browser``; a free port) with
its standard input on a pseudo-terminal, as in a terminal, where JupyterLab's Ctrl-C handler is
the interactive one. The settings under test live in ``jupyter_config/jupyter_server_config.py``.
Kernel connection files go to a short temporary runtime directory (``JUPYTER_RUNTIME_DIR``), the
user's ~/.jupyter is replaced by an empty one, so the test sees only the repository's settings.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from queue import Empty

import pytest

if os.name == "nt":
    pytest.skip("make lectures and IPC kernels: POSIX only", allow_module_level=True)
import pty  # noqa: E402  (POSIX)

REPO = Path(__file__).resolve().parents[1]
EAVESDROPPING = "susceptible to eavesdropping"
STARTUP_S = 180  # JupyterLab and a kernel on a loaded 2-core machine (measured ~20 s there)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lectures:
    """``make lectures`` in its own session, stdin on a pty, output in a log file."""

    def __init__(self, tmp: Path, runtime_dir: Path):
        if shutil.which("make") is None:
            pytest.skip("make is not installed")
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.runtime_dir = runtime_dir
        for sub in ("config", "settings", "workspaces"):
            (tmp / sub).mkdir()
        env = dict(os.environ, JUPYTER_TOKEN=self.token, JUPYTER_RUNTIME_DIR=str(runtime_dir),
                   JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"))
        env.pop("JUPYTER_CONFIG_PATH", None)
        self.log_path = tmp / "make_lectures.log"
        self._log = open(self.log_path, "wb")
        self._pty_master, pty_slave = pty.openpty()
        self.cmd = ["make", "--no-print-directory", "-C", str(REPO), "-o", ".venv/.install-stamp",
                    "lectures", f"PORT={self.port}", f"BIN={Path(sys.executable).parent}",
                    "LAB_ARGS=--no-browser --LabApp.news_url= --ServerApp.terminals_enabled=False"]
        self.proc = subprocess.Popen(self.cmd, stdin=pty_slave, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)
        os.close(pty_slave)
        self.base = f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        req = urllib.request.Request(f"{self.base}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read() or b"{}")

    def wait_up(self) -> None:
        end = time.monotonic() + STARTUP_S
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"make lectures exited with {self.proc.returncode}:\n{self.log()}")
            try:
                self.api("GET", "/api/status")
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        raise AssertionError(f"JupyterLab did not answer in {STARTUP_S} s:\n{self.log()}")

    def start_kernel(self):
        """A kernel started through the server as JupyterLab does; returns (id, connection info, client)."""
        from jupyter_client import BlockingKernelClient

        kernel_id = self.api("POST", "/api/kernels", {"name": "python3"})["id"]
        connection_file = self.runtime_dir / f"kernel-{kernel_id}.json"
        end = time.monotonic() + STARTUP_S
        while not connection_file.exists() and time.monotonic() < end:
            time.sleep(0.2)
        info = json.loads(connection_file.read_text())
        client = BlockingKernelClient(connection_file=str(connection_file))
        client.load_connection_file()
        client.start_channels(hb=False)  # without a manager, wait_for_ready trusts the heartbeat: racy
        while True:  # kernel_info until the kernel answers over its IPC sockets
            client.kernel_info()
            try:
                if client.get_shell_msg(timeout=2)["msg_type"] == "kernel_info_reply":
                    return kernel_id, info, client
            except Empty:
                pass
            if time.monotonic() > end:
                raise AssertionError(f"kernel {kernel_id} did not answer in {STARTUP_S} s:\n{self.log()}")

    def interrupt(self) -> None:
        """Ctrl-C in the terminal: SIGINT to the whole foreground process group."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()
        os.close(self._pty_master)


@pytest.fixture
def runtime_dir():
    # Short, like the default ~/.local/share/jupyter/runtime (a pytest tmp_path is too long for sockets).
    path = Path(tempfile.mkdtemp(prefix="kdp-rt-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def lectures(tmp_path: Path, runtime_dir: Path):
    lab = Lectures(tmp_path, runtime_dir)
    try:
        lab.wait_up()
        yield lab
    finally:
        lab.close()


def _kernel_process(connection_file: Path):
    import psutil

    for proc in psutil.process_iter(["cmdline"]):
        if str(connection_file) in (proc.info["cmdline"] or []):
            return proc
    return None


def _ipc_sockets(info: dict) -> list[Path]:
    ports = [info[k] for k in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")]
    return [Path(f"{info['ip']}-{p}") for p in ports]


def test_make_lectures_kernels_use_ipc_without_eavesdropping_warning(lectures):
    kernel_id, info, client = lectures.start_kernel()
    try:
        reply = client.execute_interactive("import os; print(os.getcwd())", timeout=120)
        assert reply["content"]["status"] == "ok"
    finally:
        client.stop_channels()
    assert info["transport"] == "ipc", info
    sockets = _ipc_sockets(info)
    for path in sockets:  # UNIX sockets next to the connection file, in the private runtime directory
        assert stat.S_ISSOCK(path.stat().st_mode), path
        assert path.parent == lectures.runtime_dir
        assert len(str(path)) <= 103
    assert not lectures.runtime_dir.stat().st_mode & 0o077  # nobody else can reach the sockets
    kernel = _kernel_process(lectures.runtime_dir / f"kernel-{kernel_id}.json")
    assert kernel is not None, "kernel process not found"
    # No channel on TCP. What remains is ipykernel's own fork pipe (iostream.IOPubThread binds one
    # 127.0.0.1 PULL socket, whatever the transport, for output of forked subprocesses; it only accepts
    # messages that carry a random per-kernel key and sends nothing). Over TCP there would be 5 more.
    inet = kernel.net_connections(kind="inet")
    assert len(inet) <= 1 and all(c.status == "LISTEN" and c.laddr.ip == "127.0.0.1" for c in inet), inet
    log = lectures.log()
    assert "[jupyter_config] runtime dir" not in log  # the short runtime dir above was used as it is
    assert EAVESDROPPING not in log, log


def test_one_ctrl_c_stops_make_lectures_cleanly(lectures):
    kernel_id, info, client = lectures.start_kernel()
    client.stop_channels()
    kernel = _kernel_process(lectures.runtime_dir / f"kernel-{kernel_id}.json")
    assert kernel is not None
    lectures.interrupt()
    try:
        lectures.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"make lectures still running 60 s after one Ctrl-C:\n{lectures.log()}") from None
    log = lectures.log()
    # make dies of the SIGINT it got too (a shell shows status 130, as for any command stopped with
    # Ctrl-C) but reports no failed recipe: JupyterLab itself exited normally.
    assert lectures.proc.returncode in (0, -signal.SIGINT), (lectures.proc.returncode, log)
    assert "make: ***" not in log and "Interrupt" not in log and "Traceback" not in log, log
    assert "Shut down this Jupyter server" not in log and "resuming operation" not in log, log
    assert "Shutting down" in log, log
    assert not kernel.is_running(), "the kernel outlived the server"
    assert not any(p.exists() for p in _ipc_sockets(info)), "IPC socket files left behind"
    assert not (lectures.runtime_dir / f"kernel-{kernel_id}.json").exists()


def test_a_long_runtime_dir_moves_the_sockets_to_a_short_private_one(tmp_path: Path):
    """A runtime directory whose socket paths would pass the 107-byte UNIX limit: the kernel still starts."""
    long_dir = tmp_path / ("r" * 60) / "runtime"
    lab = Lectures(tmp_path, long_dir)
    try:
        lab.wait_up()
        log = lab.log()
        assert "[jupyter_config] runtime dir" in log, log
        short = Path(log.split("; using ", 1)[1].split()[0])
        lab.runtime_dir = short
        _, info, client = lab.start_kernel()
        client.stop_channels()
        assert info["transport"] == "ipc" and all(p.parent == short for p in _ipc_sockets(info))
        assert not short.stat().st_mode & 0o077
    finally:
        lab.close()
