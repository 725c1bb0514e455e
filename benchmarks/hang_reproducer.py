"""Reproducer: notebook execution under CPU load (runs, hangs, times).

Starts ``--busy`` CPU-bound background processes (``python -c "while True: pass"``), then executes
one notebook ``--runs`` times through one of the routes a notebook takes in this project, killing a
run whose runner and kernel sit idle for ``--stall`` seconds (a hang) or that exceeds ``--timeout``
seconds (a timeout: still computing, i.e. only slow), and prints a table of runs, hangs, timeouts
and times.  The busy loops and every process a run started are killed at the end.

Usage (from the repository root)::

    .venv/bin/python benchmarks/hang_reproducer.py --busy 2 --runs 6 --timeout 300
    .venv/bin/python benchmarks/hang_reproducer.py --without-fix ...     # the stock kernel client
    .venv/bin/python benchmarks/hang_reproducer.py --route nbclient --client rearm-only ...
    .venv/bin/python benchmarks/hang_reproducer.py --route lab --runs 4  # a JupyterLab server
    .venv/bin/python benchmarks/hang_reproducer.py --slowdown --busy 2   # every notebook,
                                                                          # alone vs loaded
    .venv/bin/python benchmarks/hang_reproducer.py --blas-bench --runs 2  # OpenBLAS threads

Routes
    nbconvert  ``jupyter nbconvert --to notebook --execute`` (nbclient; the issue's reproducer),
               with ``jupyter_config/`` on ``JUPYTER_CONFIG_PATH`` (``--without-fix``: without)
    nbclient   nbclient in a worker process, with the kernel client ``--client``: ``edge-safe``
               (coursekit/kernel_client.py, default), ``plain`` (jupyter_client's), ``rearm-only``
               or ``slices-only`` (one of its two mechanisms); ``--without-fix`` = ``plain``.
               Prints how many messages the poll slices had to recover.
    coursekit  ``coursekit.execute.execute_fresh``: what ``make test``, ``make site`` and
               ``make handouts`` run
    nbval      ``pytest --nbval-lax`` on the notebook (the blocking client)
    lab        a ``jupyter lab`` server (with ``jupyter_config/``, as ``make lectures``); a kernel is
               started through its REST API and every code cell is sent over the kernel websocket,
               as the JupyterLab front end does (no browser; ``tests/test_browser.py`` drives the
               real page)

``--diagnose`` dumps, for a hung run, the Python stacks of the runner and the kernel (with
``py-spy``, if on PATH or given by ``--py-spy``) and asks the kernel, through a second client on
its connection file, how many cells it has run.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_NB = REPO / "notebooks" / "03_training_speed_spectral_bias.ipynb"
BUSY_CODE = "while True: pass"
IDLE_CPU_FRACTION = 0.02  # CPU seconds per second below which runner + kernel count as idle


# --------------------------------------------------------------------------- #
# Processes
# --------------------------------------------------------------------------- #
def start_busy(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", BUSY_CODE]) for _ in range(n)]


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            pass


def kill_tree(pid: int) -> None:
    """Kill a process and all its descendants (only processes this script started)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = root.children(recursive=True) + [root]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)


def kernels_below(pid: int) -> list[tuple[int, str | None]]:
    """(pid, connection file) of every ipykernel below ``pid``."""
    import psutil

    out = []
    try:
        for p in psutil.Process(pid).children(recursive=True):
            try:
                cmd = p.cmdline()
            except psutil.Error:
                continue
            if any("ipykernel" in c for c in cmd):
                cf = cmd[cmd.index("-f") + 1] if "-f" in cmd else None
                out.append((p.pid, cf))
    except psutil.NoSuchProcess:
        pass
    return out


def py_spy_dump(py_spy: str | None, pid: int) -> str:
    if not py_spy:
        return "(py-spy not found: pass --py-spy PATH)"
    r = subprocess.run([py_spy, "dump", "--pid", str(pid)], capture_output=True, text=True,
                       timeout=60)
    return (r.stdout + r.stderr).strip()


def ask_kernel(connection_file: str) -> str:
    """What the kernel thinks: its execution count, asked by a second client."""
    from jupyter_client import BlockingKernelClient

    kc = BlockingKernelClient(connection_file=connection_file)
    kc.load_connection_file()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=30)
        msg_id = kc.execute("get_ipython().execution_count", silent=False, store_history=False,
                            user_expressions={"n": "get_ipython().execution_count"})
        reply = kc.get_shell_msg(timeout=30)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = kc.get_shell_msg(timeout=30)
        n = reply["content"].get("user_expressions", {}).get("n", {}).get("data", {})
        return f"kernel answers a second client: status {reply['content']['status']}, " \
               f"execution_count {n.get('text/plain', '?')}"
    except Exception as exc:  # noqa: BLE001  (diagnostics only)
        return f"second client got no answer: {type(exc).__name__}: {exc}"
    finally:
        kc.stop_channels()


# --------------------------------------------------------------------------- #
# Routes
# --------------------------------------------------------------------------- #
def child_env(args: argparse.Namespace, workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("LECTURE_SCALE", "small")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.seed is not None:
        env["LECTURE_SEED"] = str(args.seed)
    for item in args.env:
        key, _, value = item.partition("=")
        env[key] = value
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    config = [p for p in env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep)
              if p and Path(p).resolve() != REPO / "jupyter_config"]
    if not args.without_fix:
        config.insert(0, str(REPO / "jupyter_config"))
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(config)
    return env


def route_cmd(args: argparse.Namespace, nb: Path, workdir: Path) -> list[str]:
    bindir = Path(sys.executable).parent
    if args.route == "nbconvert":
        return [str(bindir / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                "--output-dir", str(workdir), "--output", nb.stem + ".out", str(nb)]
    if args.route in ("nbclient", "coursekit"):
        client = "plain" if args.without_fix else args.client
        return [sys.executable, str(Path(__file__).resolve()), "--_worker", args.route, str(nb),
                "--client", client]
    if args.route == "nbval":
        return [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                "--rootdir", str(REPO), "-c", str(REPO / "pyproject.toml"), "--nbval-lax", str(nb)]
    if args.route == "lab":
        return [sys.executable, str(Path(__file__).resolve()), "--_worker", "lab", str(nb)]
    raise ValueError(f"unknown route {args.route!r}")


def tree_cpu_s(pid: int, seen: dict[int, float]) -> float:
    """CPU seconds (user + system) used so far by a process and all its descendants, including
    those that exited since (``seen``: pid -> last CPU time read, updated in place)."""
    import psutil

    try:
        procs = [psutil.Process(pid)]
        procs += procs[0].children(recursive=True)
    except psutil.NoSuchProcess:
        procs = []
    for p in procs:
        try:
            ct = p.cpu_times()
            seen[p.pid] = max(seen.get(p.pid, 0.0), ct.user + ct.system)
        except psutil.Error:
            pass
    return sum(seen.values())


def one_run(args: argparse.Namespace, nb: Path, workdir: Path, log: Path) -> dict:
    """One execution.  A hang: runner + kernel(s) used under 2% of a core over the last
    ``--stall`` seconds (every cell of these notebooks computes: a run that makes progress uses
    far more, even on a loaded machine; idle processes use ~0.1%).  A timeout: the run exceeds
    ``--timeout`` while still computing."""
    import resource

    env = child_env(args, workdir)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log, "wb") as fh:
        proc = subprocess.Popen(route_cmd(args, nb, workdir), stdout=fh, stderr=subprocess.STDOUT,
                                env=env, cwd=nb.parent if args.route == "nbconvert" else REPO)
        status, samples, seen = None, [], {}  # samples: (time, CPU seconds of the tree)
        while status is None:
            try:
                rc = proc.wait(2.0)
                status = "ok" if rc == 0 else f"error (exit {rc})"
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.perf_counter()
            samples.append((now, tree_cpu_s(proc.pid, seen)))
            old = [c for (ts, c) in samples if ts <= now - args.stall]
            stalled = bool(old) and samples[-1][1] - old[-1] < IDLE_CPU_FRACTION * args.stall
            if stalled or now - t0 > args.timeout:
                status = "hang" if stalled else "timeout"
                if args.diagnose:
                    diagnose(args, proc.pid, log)
                kill_tree(proc.pid)
                proc.wait()
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU of the run's process tree: the reaped descendants' rusage (exact for a finished run), or
    # the last readings of the tree (a killed run's kernel is reaped by init, not counted there)
    cpu = max(ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime, sum(seen.values()))
    text = log.read_text(errors="replace")
    found = re.findall(r"^RECOVERED (\d+)$", text, flags=re.M)
    cells = {int(i): float(t) for i, t in re.findall(r"^CELL (\d+) ([0-9.]+)$", text, flags=re.M)}
    return {"status": status, "wall_s": wall, "cpu_s": cpu, "recovered": int(found[-1]) if found else None,
            "cells": cells}


def diagnose(args: argparse.Namespace, pid: int, log: Path) -> None:
    py_spy = args.py_spy or shutil.which("py-spy")
    parts = [f"=== runner {pid} ===", py_spy_dump(py_spy, pid)]
    for kpid, cf in kernels_below(pid):
        parts += [f"=== kernel {kpid} ({cf}) ===", py_spy_dump(py_spy, kpid)]
        if cf:
            parts.append(ask_kernel(cf))
            time.sleep(5)  # did the second client's traffic wake the runner up?
            parts.append(f"runner still running 5 s after the second client: "
                         f"{subprocess.run(['kill', '-0', str(pid)]).returncode == 0}")
    text = "\n".join(parts)
    with open(log, "a") as fh:
        fh.write("\n" + text + "\n")
    print(text, file=sys.stderr)


# --------------------------------------------------------------------------- #
# The nbclient and coursekit routes (run in a worker process)
# --------------------------------------------------------------------------- #
def _log_recoveries() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING, format="[%(name)s] %(message)s")
    logging.getLogger("coursekit.kernel_client").setLevel(logging.DEBUG)


def nbclient_worker(nb_path: Path, client: str) -> int:
    import nbformat
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    sys.path.insert(0, str(REPO))
    from coursekit import kernel_client as kcm

    if client == "rearm-only":
        kcm.POLL_SLICE_S = 1e6
    elif client == "slices-only":
        kcm.EdgeSafeAsyncZMQSocketChannel.rearm = lambda self: None
    manager = AsyncKernelManager if client == "plain" else kcm.EdgeSafeAsyncKernelManager
    _log_recoveries()
    nb = nbformat.read(nb_path, as_version=4)
    started: dict[int, float] = {}

    def on_start(cell, cell_index):
        started[cell_index] = time.perf_counter()

    def on_done(cell, cell_index, execute_reply):
        print(f"CELL {cell_index} {time.perf_counter() - started[cell_index]:.2f}", flush=True)

    NotebookClient(nb, timeout=600, kernel_name="python3", kernel_manager_class=manager,
                   on_cell_start=on_start, on_cell_executed=on_done,
                   resources={"metadata": {"path": str(nb_path.parent)}}).execute()
    print(f"RECOVERED {kcm.RECOVERED}", flush=True)
    return 0


def coursekit_worker(nb_path: Path) -> int:
    sys.path.insert(0, str(REPO))
    from coursekit import execute, kernel_client as kcm
    from coursekit.notebooks import read

    _log_recoveries()
    execute.execute_fresh(read(nb_path), cwd=nb_path.parent, label=nb_path.name)
    print(f"RECOVERED {kcm.RECOVERED}", flush=True)
    return 0


# --------------------------------------------------------------------------- #
# The lab route: a JupyterLab server driven over REST + websocket
# --------------------------------------------------------------------------- #
def lab_worker(nb_path: Path) -> int:
    import socket
    import urllib.request

    import nbformat

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = uuid.uuid4().hex
    root = nb_path.parent
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--allow-root"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}

    def request(method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read() or b"{}")

    try:
        for _ in range(240):
            try:
                request("GET", "/api/status")
                break
            except OSError:
                time.sleep(0.5)
        session = request("POST", "/api/sessions", {"path": nb_path.name, "type": "notebook",
                                                     "kernel": {"name": "python3"}})
        kid = session["kernel"]["id"]
        nb = nbformat.read(nb_path, as_version=4)
        cells = [c.source for c in nb.cells if c.cell_type == "code"]
        return asyncio.run(_lab_execute(port, token, kid, cells))
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            kill_tree(server.pid)


async def _lab_execute(port: int, token: str, kid: str, cells: list[str]) -> int:
    from tornado.websocket import websocket_connect

    session = uuid.uuid4().hex
    ws = await websocket_connect(
        f"ws://127.0.0.1:{port}/api/kernels/{kid}/channels?session_id={session}&token={token}")
    for i, code in enumerate(cells):
        msg_id = uuid.uuid4().hex
        ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "bench",
                       "session": session, "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
        replied = idle = False
        status = None
        while not (replied and idle):
            raw = await ws.read_message()
            if raw is None:
                print(f"websocket closed at cell {i}", flush=True)
                return 2
            if isinstance(raw, bytes):
                continue  # binary (buffers) messages: not needed here
            m = json.loads(raw)
            if m.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if m["channel"] == "shell" and m["msg_type"] == "execute_reply":
                replied, status = True, m["content"]["status"]
            elif m["channel"] == "iopub" and m["msg_type"] == "status":
                idle = m["content"]["execution_state"] == "idle"
        print(f"cell {i}: {status}", flush=True)
        if status != "ok":
            return 1
    ws.close()
    return 0


# --------------------------------------------------------------------------- #
# Thread pools: multi-threaded BLAS vs one thread, under the same load
# --------------------------------------------------------------------------- #
BLAS_BENCH = r"""
import json, resource, time
import numpy as np, jax, jax.numpy as jnp, jax.scipy.linalg as jsl
jax.config.update("jax_enable_x64", True)
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime
a = np.random.default_rng(0).normal(size=(800, 800)); k = a @ a.T + 800 * np.eye(800); kj = jnp.asarray(k)
jnp.linalg.eigh(kj)[0].block_until_ready()  # compile outside the timing
out = {}
for name, fn in [("numpy eigh + solve 800x800 x4", lambda: [(np.linalg.eigh(k), np.linalg.solve(k, a))
                                                           for _ in range(4)]),
                 ("jax eigh + solve 800x800 x4", lambda: [(jnp.linalg.eigh(kj)[0].block_until_ready(),
                                                          jsl.solve(kj, kj[:, :10], assume_a="pos").block_until_ready())
                                                         for _ in range(4)])]:
    w, c = time.perf_counter(), cpu(); fn(); out[name] = (time.perf_counter() - w, cpu() - c)
print("BLAS_BENCH " + json.dumps(out))
"""


def blas_bench(args: argparse.Namespace) -> int:
    """numpy's and jax's CPU linalg (both OpenBLAS) with the default threads and with one,
    alternating ``--runs`` times, with ``--busy`` loops running."""
    busy = start_busy(args.busy)
    rows = []
    try:
        time.sleep(1)
        for _ in range(args.runs):
            for label, extra in (("default", {}), ("OPENBLAS_NUM_THREADS=1", {"OPENBLAS_NUM_THREADS": "1"})):
                env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
                r = subprocess.run([sys.executable, "-c", BLAS_BENCH], env={**env, **extra},
                                   capture_output=True, text=True, timeout=args.timeout)
                line = [ln for ln in r.stdout.splitlines() if ln.startswith("BLAS_BENCH ")]
                if not line:
                    print(r.stderr[-2000:], file=sys.stderr)
                    return 1
                rows.append((label, json.loads(line[-1][len("BLAS_BENCH "):])))
                print(label, rows[-1][1], file=sys.stderr, flush=True)
    finally:
        stop(busy)
    print(f"# BLAS threads, busy loops {args.busy}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print("| workload | threads | wall (s) | CPU (s) |\n|---|---|---:|---:|")
    for label, res in rows:
        for name, (w, c) in res.items():
            print(f"| {name} | {label} | {w:.1f} | {c:.1f} |")
    return 0


# --------------------------------------------------------------------------- #
# Driver
# --------------------------------------------------------------------------- #
def fmt_times(times: list[float]) -> str:
    if not times:
        return "-"
    return f"{min(times):.0f} / {statistics.median(times):.0f} / {max(times):.0f}"


def reproduce(args: argparse.Namespace, nb: Path, work: Path) -> dict:
    busy = start_busy(args.busy)
    rows = []
    try:
        time.sleep(1)
        for i in range(args.runs):
            r = one_run(args, nb, work, work / f"{nb.stem}-run{i}.log")
            rows.append(r)
            print(f"run {i + 1}/{args.runs}: {r['status']} {r['wall_s']:.0f} s wall, "
                  f"{r['cpu_s']:.0f} s CPU (load {os.getloadavg()[0]:.1f})", file=sys.stderr,
                  flush=True)
    finally:
        stop(busy)
    ok = [r["wall_s"] for r in rows if r["status"] == "ok"]
    ok_cpu = [r["cpu_s"] for r in rows if r["status"] == "ok"]
    return {"runs": len(rows), "hangs": sum(r["status"] == "hang" for r in rows),
            "timeouts": sum(r["status"] == "timeout" for r in rows),
            "errors": sum(r["status"].startswith("error") for r in rows), "ok_times": ok,
            "ok_cpu": ok_cpu, "rows": rows}


def slowdown(args: argparse.Namespace, work: Path) -> list[dict]:
    out = []
    notebooks = sorted((REPO / "notebooks").glob(args.only or "[0-9][0-9]_*.ipynb"))
    for nb in notebooks:
        rec = {"notebook": nb.stem}
        for label, n_busy in (("alone", 0), ("loaded", args.busy)):
            sub = argparse.Namespace(**{**vars(args), "busy": n_busy, "runs": 1})
            res = reproduce(sub, nb, work)
            rec[label] = res["rows"][0]
            print(f"{nb.stem} {label}: {rec[label]['status']} {rec[label]['wall_s']:.0f} s wall, "
                  f"{rec[label]['cpu_s']:.0f} s CPU", file=sys.stderr, flush=True)
        out.append(rec)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--busy", type=int, default=2, help="CPU-bound background processes (default 2)")
    ap.add_argument("--runs", type=int, default=4, help="executions of the notebook (default 4)")
    ap.add_argument("--notebook", type=Path, default=DEFAULT_NB, help="default: notebook 03")
    ap.add_argument("--timeout", type=float, default=900,
                    help="seconds after which a run counts as a hang and is killed (default 900)")
    ap.add_argument("--stall", type=float, default=60,
                    help="a hang: runner + kernel idle (< 2%% of a core) for this many seconds (default 60)")
    ap.add_argument("--route", choices=["nbconvert", "nbclient", "coursekit", "nbval", "lab"],
                    default="nbconvert")
    ap.add_argument("--client", choices=["edge-safe", "plain", "rearm-only", "slices-only"],
                    default="edge-safe", help="kernel client of the nbclient route")
    ap.add_argument("--seed", type=int, help="LECTURE_SEED for the kernel")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for the runner and its kernel (repeatable)")
    ap.add_argument("--cells", type=int, default=0, metavar="N",
                    help="nbclient route: also print the N slowest cells of each run")
    ap.add_argument("--diagnose", action="store_true",
                    help="on a hang: py-spy stacks of runner and kernel; ask the kernel")
    ap.add_argument("--py-spy", help="path of py-spy (default: the one on PATH)")
    ap.add_argument("--without-fix", action="store_true",
                    help="the stock kernel client (nbconvert: no jupyter_config/; nbclient: plain)")
    ap.add_argument("--slowdown", action="store_true",
                    help="every notebook once alone and once with --busy loops; report the ratio")
    ap.add_argument("--only", help="with --slowdown: glob of notebook names (e.g. '0[23]_*')")
    ap.add_argument("--blas-bench", action="store_true",
                    help="numpy/jax linalg with default vs one OpenBLAS thread under --busy loops")
    ap.add_argument("--_worker", nargs=2, metavar=("ROUTE", "NOTEBOOK"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._worker:
        route, target = args._worker
        if route == "lab":
            return lab_worker(Path(target))
        if route == "coursekit":
            return coursekit_worker(Path(target))
        return nbclient_worker(Path(target), args.client)
    if args.busy < 0 or args.runs < 1 or args.timeout <= 0:
        ap.error("--busy >= 0, --runs >= 1 and --timeout > 0 please")
    if args.blas_bench:
        return blas_bench(args)
    nb = args.notebook.expanduser().resolve()
    header = (f"# busy loops {args.busy}, route {args.route}, hang = idle for {args.stall:.0f} s "
              f"(or over {args.timeout:.0f} s), "
              f"seed {args.seed if args.seed is not None else 'default'}, "
              f"fix {'OFF' if args.without_fix else 'on'}"
              f"{', client ' + args.client if args.route == 'nbclient' else ''}"
              f"{', env ' + ' '.join(args.env) if args.env else ''}, "
              f"{os.cpu_count()} CPUs, load before {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="hang-repro-") as tmp:
        work = Path(tmp)
        if args.slowdown:
            recs = slowdown(args, work)
            print(header)
            print("| notebook | alone wall / CPU (s) | loaded wall / CPU (s) | slowdown (wall) "
                  "| CPU loaded / alone | status alone / loaded |")
            print("|---|---:|---:|---:|---:|---|")
            for r in recs:
                a, b = r["alone"], r["loaded"]
                ratio = b["wall_s"] / a["wall_s"] if a["status"] == "ok" else float("nan")
                cpu_ratio = b["cpu_s"] / a["cpu_s"] if a["cpu_s"] else float("nan")
                print(f"| {r['notebook']} | {a['wall_s']:.0f} / {a['cpu_s']:.0f} | "
                      f"{b['wall_s']:.0f} / {b['cpu_s']:.0f} | {ratio:.1f}x | {cpu_ratio:.2f} | "
                      f"{a['status']} / {b['status']} |")
            print(f"load after {os.getloadavg()[0]:.1f}")
            return 0 if all(r["alone"]["status"] == r["loaded"]["status"] == "ok" for r in recs) \
                else 1
        res = reproduce(args, nb, work)
        print(header)
        rec = [r["recovered"] for r in res["rows"] if r["recovered"] is not None]
        print("| notebook | route | runs | hangs | timeouts | errors "
              "| ok wall min / median / max (s) | ok CPU min / median / max (s) "
              "| recovered by poll slices |")
        print("|---|---|---:|---:|---:|---:|---|---|---|")
        print(f"| {nb.stem} | {args.route} | {res['runs']} | {res['hangs']} | {res['timeouts']} | "
              f"{res['errors']} | "
              f"{fmt_times(res['ok_times'])} | {fmt_times(res['ok_cpu'])} | "
              f"{', '.join(map(str, rec)) if rec else '-'} |")
        print(f"load after {os.getloadavg()[0]:.1f}")
        if args.cells:
            for i, r in enumerate(res["rows"]):
                top = sorted(r["cells"].items(), key=lambda kv: -kv[1])[:args.cells]
                print(f"run {i + 1} slowest cells: " + ", ".join(f"{c}: {t:.1f} s" for c, t in top))
        if res["errors"]:
            for i, r in enumerate(res["rows"]):
                if r["status"].startswith("error"):
                    tail = (work / f"{nb.stem}-run{i}.log").read_text(errors="replace")
                    print(f"--- run {i} ---\n" + "\n".join(tail.splitlines()[-15:]), file=sys.stderr)
        return 0 if res["hangs"] == res["timeouts"] == res["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
