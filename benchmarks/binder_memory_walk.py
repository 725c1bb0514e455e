"""Memory of a Binder session in which a student opens every notebook in turn.

Usage (from the repository root)::

    .venv/bin/python benchmarks/binder_memory_walk.py             # Binder's settings, 10 min per notebook
    .venv/bin/python benchmarks/binder_memory_walk.py --no-cull   # the same walk with culling off
    .venv/bin/python benchmarks/binder_memory_walk.py --dwell 0   # no pause between notebooks

What it does
    1. copies ``notebooks/`` (or ``--notebook-dir``) to a temporary folder, so nothing is written back;
    2. starts one JupyterLab server the way Binder does: through ``binder/start``, which puts
       ``binder/jupyter_server_config.py`` (the kernel culling settings) on ``JUPYTER_CONFIG_PATH``;
       the user's own Jupyter config is kept out (``JUPYTER_CONFIG_DIR`` is a temporary folder);
    3. for every numbered notebook (``NN_*.ipynb``, found anew each run), in order: opens it as a
       JupyterLab tab does (``POST /api/sessions`` + the kernel's websocket, which stays open, so the
       kernel counts as *connected*), runs all its code cells, then waits ``--dwell`` seconds (a student
       reading; default: the culling timeout + one culling interval + 30 s, so an idle kernel is culled
       before the next notebook opens).  No kernel is ever shut down by the script.
    4. (a failing cell is recorded and the notebook's remaining cells still run, so their memory
       counts; ``--stop-on-error`` stops there, as Run All does;)
    5. samples the RSS of the server and all its descendants (the kernels) every 0.5 s and records,
       per notebook, the peak while its cells ran, the value right after, and the value at the end
       of the pause, with the number of kernels still running.

The table is printed and written to ``benchmarks/binder_memory.md`` (``--output``); ``--json`` also
writes the raw numbers.  RSS sums count shared library pages once per process, so they overstate
what Binder's memory limit sees a little.  Exit status 1 if a cell failed, the culling settings were
not the ones asked for, or (``--limit-mb``) the peak went over the limit.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import queue
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
START = REPO / "binder" / "start"
CONFIG = REPO / "binder" / "jupyter_server_config.py"
NUMBERED = "[0-9][0-9]_*.ipynb"
MB = 2**20


# --------------------------------------------------------------------------- #
# Settings and memory
# --------------------------------------------------------------------------- #
def binder_cull_settings(path: Path = CONFIG) -> dict[str, object]:
    """The ``MappingKernelManager`` settings of ``binder/jupyter_server_config.py``."""
    from traitlets.config.loader import PyFileConfigLoader

    cfg = PyFileConfigLoader(path.name, str(path.parent)).load_config()
    return dict(cfg.get("MappingKernelManager", {}))


def tree_rss(pid: int) -> tuple[int, int, int]:
    """``(server RSS, kernels RSS, number of kernel processes)`` in bytes for ``pid``'s tree."""
    import psutil

    try:
        root = psutil.Process(pid)
        server = root.memory_info().rss
        children = root.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0, 0, 0
    kernels = 0
    for p in children:
        try:
            kernels += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            pass
    return server, kernels, len(children)


class Sampler(threading.Thread):
    """Polls :func:`tree_rss` every ``interval`` s; ``peak()`` since the last ``reset()``."""

    def __init__(self, pid: int, interval: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self._stop, self._lock = threading.Event(), threading.Lock()
        self._peak = self._overall = 0

    def run(self) -> None:
        while not self._stop.is_set():
            total = sum(tree_rss(self.pid)[:2])
            with self._lock:
                self._peak = max(self._peak, total)
                self._overall = max(self._overall, total)
            self._stop.wait(self.interval)

    def reset(self) -> None:
        with self._lock:
            self._peak = sum(tree_rss(self.pid)[:2])

    def peak(self) -> int:
        with self._lock:
            return self._peak

    def overall(self) -> int:
        with self._lock:
            return self._overall

    def stop(self) -> None:
        self._stop.set()


# --------------------------------------------------------------------------- #
# A Jupyter server and its REST / websocket API
# --------------------------------------------------------------------------- #
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """JupyterLab started through ``binder/start``, on 127.0.0.1 with a random token."""

    def __init__(self, root: Path, work: Path, extra_args: list[str], log_path: Path):
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update(JUPYTER_CONFIG_DIR=str(work / "config"), JUPYTER_RUNTIME_DIR=str(work / "runtime"),
                   JUPYTER_PLATFORM_DIRS="1")
        env.pop("JUPYTER_CONFIG_PATH", None)  # binder/start sets it, as on Binder
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        cmd = [str(START), sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", f"--ServerApp.token={self.token}",
               f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False", *extra_args]
        if hasattr(os, "getuid") and os.getuid() == 0:
            cmd.append("--allow-root")
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     cwd=root)

    def api(self, method: str, path: str, body: dict | None = None, timeout: float = 60):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base}{path}", data=data, method=method, headers={
            "Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def wait_ready(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}); log:\n{self.log()}")
            try:
                self.api("GET", "/api/status", timeout=5)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        raise RuntimeError(f"server not up after {timeout:.0f} s; log:\n{self.log()}")

    def kernels(self) -> list[dict]:
        return self.api("GET", "/api/kernels")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # the server shuts its kernels down on SIGTERM
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class KernelChannel:
    """The websocket a notebook tab keeps open to its kernel; a thread reads it continuously
    (answering the server's pings, so the connection stays up while the kernel is idle)."""

    def __init__(self, server: Server, kernel_id: str, session_id: str):
        import websocket  # websocket-client, a dependency of jupyter-server

        url = (f"ws://127.0.0.1:{server.port}/api/kernels/{kernel_id}/channels"
               f"?session_id={session_id}")
        self.session_id = session_id
        self.ws = websocket.create_connection(url, header=[f"Authorization: token {server.token}"],
                                              timeout=30)
        self.ws.settimeout(None)
        self.messages: queue.Queue = queue.Queue()
        self.closed = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                raw = self.ws.recv()
                if not raw:
                    break
                if isinstance(raw, str):
                    self.messages.put(json.loads(raw))
        except Exception:  # closed by the server (kernel culled) or by us
            pass
        finally:
            self.closed.set()

    def execute(self, code: str, timeout: float) -> tuple[str, str]:
        """Run ``code``; ``("ok"|"error"|"timeout", error text)`` once the kernel is idle again."""
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "walk",
                       "session": self.session_id, "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "buffers": [], "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": False},
        }))
        status, error, idle, replied = "ok", "", False, False
        end = time.monotonic() + timeout
        while not (idle and replied):
            left = end - time.monotonic()
            if left <= 0:
                return "timeout", f"no reply after {timeout:.0f} s"
            try:
                msg = self.messages.get(timeout=min(left, 5))
            except queue.Empty:
                if self.closed.is_set():
                    return "error", "websocket closed"
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg.get("header", {}).get("msg_type") or msg.get("msg_type")
            if kind == "execute_reply":
                replied = True
                if msg["content"].get("status") != "ok":
                    status = "error"
                    error = f"{msg['content'].get('ename')}: {msg['content'].get('evalue')}"
            elif kind == "status" and msg["content"].get("execution_state") == "idle":
                idle = True
        return status, error

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass


# --------------------------------------------------------------------------- #
# The walk
# --------------------------------------------------------------------------- #
@dataclass
class Step:
    notebook: str
    run_s: float = 0.0
    status: str = "ok"
    peak_during_mb: float = 0.0
    after_run_mb: float = 0.0
    server_after_run_mb: float = 0.0
    kernels_after_run: int = 0
    after_dwell_mb: float = 0.0
    kernels_after_dwell: int = 0
    culled_during_dwell: list[str] = field(default_factory=list)


def _culling_log_line(server: Server, timeout: int, wait: float = 15) -> str:
    """The server's "Culling kernels with idle durations > N seconds" line; checks N."""
    end = time.monotonic() + wait
    while True:
        lines = [ln.split("] ", 1)[-1].strip() for ln in server.log().splitlines()
                 if "Culling kernels with idle" in ln]
        if timeout <= 0:
            if lines:
                raise RuntimeError(f"culling is on although it was turned off: {lines[0]!r}")
            return ""
        if lines:
            if f"> {timeout} seconds" not in lines[0]:
                raise RuntimeError(f"server culls with other settings than asked: {lines[0]!r}")
            return lines[0]
        if time.monotonic() > end:
            raise RuntimeError(f"server did not report culling after {timeout} s; log:\n{server.log()}")
        time.sleep(0.5)


def code_cells(path: Path) -> list[str]:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def walk(nb_dir: Path, pattern: str | None, dwell: float | None, overrides: dict[str, int],
         cell_timeout: float, log=print, stop_on_error: bool = False) -> dict:
    """Open every numbered notebook of ``nb_dir`` in turn in one server; see the module doc.

    ``overrides``: ``MappingKernelManager`` settings given on the server's command line on top of
    binder/jupyter_server_config.py (e.g. ``{"cull_idle_timeout": 0}`` turns culling off).
    A failing cell is recorded in the step's status; the notebook's later cells still run (their
    memory counts too) unless ``stop_on_error``, as JupyterLab's Run All would stop.
    """
    notebooks = sorted(p.name for p in nb_dir.glob(NUMBERED)
                       if not pattern or fnmatch.fnmatch(p.stem, pattern) or pattern in p.stem)
    if not notebooks:
        raise SystemExit(f"no numbered notebooks ({NUMBERED}) in {nb_dir}")
    settings = {**binder_cull_settings(), **overrides}
    cull_args = [f"--MappingKernelManager.{k}={v}" for k, v in overrides.items()]
    timeout = int(settings.get("cull_idle_timeout", 0))
    interval = int(settings.get("cull_interval", 300))
    if dwell is None:
        dwell = timeout + interval + 30 if timeout > 0 else 0.0
    steps: list[Step] = []
    channels: list[KernelChannel] = []
    with tempfile.TemporaryDirectory(prefix="binder-walk-") as tmp:
        work = Path(tmp)
        root = work / "notebooks"
        shutil.copytree(nb_dir, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        server = Server(root, work, cull_args, work / "server.log")
        sampler = None
        try:
            server.wait_ready(180)
            cull_line = ""
            sampler = Sampler(server.proc.pid)
            sampler.start()
            base_server = tree_rss(server.proc.pid)[0]
            for name in notebooks:
                step = Step(name)
                steps.append(step)
                cells = code_cells(root / name)
                log(f"[walk] {name}: {len(cells)} code cells ...")
                sampler.reset()
                t0 = time.perf_counter()
                sess = server.api("POST", "/api/sessions", {
                    "path": name, "name": name, "type": "notebook", "kernel": {"name": "python3"}})
                channel = KernelChannel(server, sess["kernel"]["id"], uuid.uuid4().hex)
                channels.append(channel)
                if len(channels) == 1:  # the culler starts with the first kernel
                    cull_line = _culling_log_line(server, timeout)
                for i, src in enumerate(cells):
                    status, err = channel.execute(src, cell_timeout)
                    if status != "ok" and step.status == "ok":
                        step.status = f"{status} in code cell {i + 1}: {err}"[:300]
                    if status == "timeout" or (status != "ok" and stop_on_error):
                        break
                step.run_s = time.perf_counter() - t0
                srv, ker, _ = tree_rss(server.proc.pid)
                step.after_run_mb, step.server_after_run_mb = (srv + ker) / MB, srv / MB
                step.peak_during_mb = max(sampler.peak() / MB, step.after_run_mb)
                alive_before = {k["id"] for k in server.kernels()}
                step.kernels_after_run = len(alive_before)
                log(f"[walk] {name}: {step.run_s:.0f} s, {step.status}; server + kernels "
                    f"{step.after_run_mb:.0f} MB ({step.kernels_after_run} kernels), peak "
                    f"{step.peak_during_mb:.0f} MB; pausing {dwell:.0f} s")
                time.sleep(dwell)
                alive_after = {k["id"] for k in server.kernels()}
                step.kernels_after_dwell = len(alive_after)
                step.culled_during_dwell = sorted(alive_before - alive_after)
                step.after_dwell_mb = sum(tree_rss(server.proc.pid)[:2]) / MB
                log(f"[walk] {name}: after the pause {step.after_dwell_mb:.0f} MB, "
                    f"{step.kernels_after_dwell} kernels running")
            overall = max([sampler.overall() / MB] + [st.peak_during_mb for st in steps])
            culled = [ln.split("] ", 1)[-1].strip() for ln in server.log().splitlines()
                      if "Culling '" in ln]
        finally:
            if sampler is not None:
                sampler.stop()
            for ch in channels:
                ch.close()
            server.stop()
    return {
        "notebooks": notebooks, "steps": [asdict(s) for s in steps], "peak_mb": overall,
        "server_idle_mb": base_server / MB, "dwell_s": dwell, "cull_log_line": cull_line,
        "culled_log_lines": culled,
        "settings": {k: settings[k] for k in sorted(settings)}, "overrides": cull_args,
    }


def to_markdown(res: dict, argv: list[str], total_s: float) -> str:
    try:
        load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        load = "n/a"
    s = res["settings"]
    culling = (f"idle kernels culled after {s.get('cull_idle_timeout')} s, checked every "
               f"{s.get('cull_interval')} s, cull_connected={s.get('cull_connected')}"
               if int(s.get("cull_idle_timeout", 0)) > 0 else "culling off")
    lines = [
        "# Binder memory walk",
        "",
        "Command: `" + " ".join(["python benchmarks/binder_memory_walk.py", *argv]) + "`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; host: {platform.node()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; LECTURE_SCALE={os.environ.get('LECTURE_SCALE', 'small')}; "
        f"load average at the end: {load}; total {total_s:.0f} s.  ",
        f"Server: JupyterLab through `binder/start` ({culling}"
        f"{'; overrides ' + ' '.join(res['overrides']) if res['overrides'] else ''}); "
        f"idle server {res['server_idle_mb']:.0f} MB.  Every notebook opened in turn in one server, "
        f"its websocket left open, no kernel shut down by hand; pause after each: {res['dwell_s']:.0f} s.  ",
        f"**Peak server + kernels RSS over the whole walk: {res['peak_mb']:.0f} MB.**",
        "",
        "| notebook | run (s) | status | peak while running (MB) | after run (MB) | kernels after run "
        "| after pause (MB) | kernels after pause |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for st in res["steps"]:
        lines.append(
            f"| {st['notebook']} | {st['run_s']:.0f} | {st['status'].replace('|', '/')} | "
            f"{st['peak_during_mb']:.0f} | {st['after_run_mb']:.0f} | {st['kernels_after_run']} | "
            f"{st['after_dwell_mb']:.0f} | {st['kernels_after_dwell']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notebook-dir", type=Path, default=REPO / "notebooks")
    ap.add_argument("--only", metavar="PATTERN", help="only notebooks whose name matches")
    ap.add_argument("--dwell", type=float, default=None,
                    help="seconds to wait after each notebook (default: cull timeout + interval + 30)")
    ap.add_argument("--no-cull", action="store_true", help="turn kernel culling off (baseline)")
    ap.add_argument("--cull-idle-timeout", type=int, help="override binder's cull_idle_timeout")
    ap.add_argument("--cull-interval", type=int, help="override binder's cull_interval")
    ap.add_argument("--cell-timeout", type=float, default=600)
    ap.add_argument("--stop-on-error", action="store_true",
                    help="stop a notebook at its first failing cell (default: run the rest, record the error)")
    ap.add_argument("--limit-mb", type=float, default=None, help="exit 1 if the peak exceeds this")
    ap.add_argument("--output", type=Path, default=HERE / "binder_memory.md")
    ap.add_argument("--json", type=Path, default=None, help="also write the raw numbers here")
    args = ap.parse_args(argv)
    overrides: dict[str, int] = {}
    if args.no_cull:
        overrides["cull_idle_timeout"] = 0
    elif args.cull_idle_timeout is not None:
        overrides["cull_idle_timeout"] = args.cull_idle_timeout
    if args.cull_interval is not None:
        overrides["cull_interval"] = args.cull_interval
    t0 = time.perf_counter()
    res = walk(args.notebook_dir.expanduser().resolve(), args.only, args.dwell, overrides,
               args.cell_timeout, log=lambda m: print(m, file=sys.stderr, flush=True),
               stop_on_error=args.stop_on_error)
    table = to_markdown(res, argv, time.perf_counter() - t0)
    print(table)
    args.output.write_text(table)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    bad = [s for s in res["steps"] if s["status"] != "ok"]
    if args.limit_mb is not None and res["peak_mb"] > args.limit_mb:
        print(f"peak {res['peak_mb']:.0f} MB is over --limit-mb {args.limit_mb:.0f}", file=sys.stderr)
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
