"""Time and memory of every notebook and of the heavy kernel computations.

Usage (from the repository root)::

    .venv/bin/python benchmarks/run_benchmarks.py                  # everything
    .venv/bin/python benchmarks/run_benchmarks.py --notebooks-only --only '0[0-3]_*'
    .venv/bin/python benchmarks/run_benchmarks.py --kernels-only --only cntk
    .venv/bin/python benchmarks/run_benchmarks.py --imports-only

Imports
    What a fresh kernel pays before its first cell does any work: ``import lecture_lib.kernels``
    (jax + neural-tangents, without TensorFlow) in a new interpreter, run ``IMPORT_RUNS`` times in
    separate processes; wall time = the import alone (best of the runs; the median, and the
    import's CPU time, are in the notes), peak memory = the largest peak RSS (``ru_maxrss``) of the processes.  The notes check the
    targets (<= 1.5 s, <= 350 MB) and that ``tensorflow`` was not imported.

Notebooks
    Each notebook is executed by nbclient in its own subprocess (kernel ``python3`` of this
    interpreter, cwd = the notebook's folder, ``LECTURE_SCALE`` from the environment, default
    ``small``); the notebook file is never written.  Wall time = ``NotebookClient.execute()``
    (kernel start + all cells).  Peak memory = peak RSS of the *kernel* process tree (the nbclient
    runner itself is excluded): the largest of (a) the sum of RSS over the kernel and its
    children, polled every 0.1 s with psutil, (b) the kernel's own high-water mark (``VmHWM``) and
    (c) ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` seen by the runner after the kernel was reaped.

Kernel computations
    Each case runs in its own subprocess (fresh JIT caches, its own memory): the analytic FC NTK
    of 2000 digits-like points (d=64) and the CNTK of 200 8x8x1 digit images, float32 vs float64,
    with and without ``nt.batch``.  Wall time = first call (compilation included, what a notebook
    pays); the compiled second call (run when the first took < 60 s) is in the notes.  Peak memory = peak RSS of the process
    (imports of jax/TensorFlow included).  Uses :mod:`lecture_lib.kernels` when it works, else
    neural-tangents ``stax`` directly.  float32 results are compared with float64.

The table (name, wall time, peak memory, check against the notebook limits 90 s / 2 GB) is
printed and written to ``benchmarks/results.md`` (overwritten).  Exit status 1 if any run failed
(or exceeded a limit, with ``--fail-on-limit``).  Timings on a shared CPU are inflated: the
header records the load average.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LIMIT_S = 90.0
LIMIT_MB = 2048.0
RESULT_TAG = "BENCH_RESULT "
SECOND_CALL_MAX_S = 60.0  # time the compiled second call only when the first took less
IMPORT_RUNS = 5
# name -> module imported in a fresh interpreter; targets: wall time (s), peak RSS (MB)
IMPORT_CASES: dict[str, str] = {"lecture_lib.kernels": "lecture_lib.kernels"}
IMPORT_TARGET_S, IMPORT_TARGET_MB = 1.5, 350.0

# name -> (architecture, n, dtype, batch_size)
KERNEL_CASES: dict[str, tuple[str, int, str, int]] = {
    "fc_ntk_n2000_d64_float32": ("fc", 2000, "float32", 0),
    "fc_ntk_n2000_d64_float64": ("fc", 2000, "float64", 0),
    "fc_ntk_n2000_d64_float32_batch200": ("fc", 2000, "float32", 200),
    "fc_ntk_n2000_d64_float64_batch200": ("fc", 2000, "float64", 200),
    "cntk_n200_8x8x1_float32_batch25": ("cntk", 200, "float32", 25),
    "cntk_n200_8x8x1_float64_batch25": ("cntk", 200, "float64", 25),
}


@dataclass
class Result:
    kind: str  # "import" | "notebook" | "kernel"
    name: str
    wall_s: float | None = None
    peak_mb: float | None = None
    status: str = "ok"  # ok | error: ... | timeout
    notes: list[str] = field(default_factory=list)

    def limit_check(self) -> str:
        if self.status != "ok":
            return "FAIL (" + self.status.split(":")[0] + ")"
        over = []
        limit_s, limit_mb = ((IMPORT_TARGET_S, IMPORT_TARGET_MB) if self.kind == "import"
                             else (LIMIT_S, LIMIT_MB))
        if self.wall_s is not None and self.wall_s > limit_s:
            over.append("time")
        if self.peak_mb is not None and self.peak_mb > limit_mb:
            over.append("memory")
        return "OK" if not over else "OVER (" + ", ".join(over) + ")"


# --------------------------------------------------------------------------- #
# Measuring a subprocess tree
# --------------------------------------------------------------------------- #
def _vm_hwm_bytes(pid: int) -> int:
    """Peak RSS (``VmHWM``) of a live process from /proc (0 where unavailable)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def run_measured(cmd: list[str], env: dict[str, str], timeout: float, exclude_root: bool,
                 log_path: Path) -> tuple[dict | None, float, str, float]:
    """Run ``cmd``; poll RSS of its process tree.

    Returns ``(result_json or None, peak_bytes, status, elapsed_s)``.  With ``exclude_root`` the
    root process (the nbclient runner) is not counted, only its descendants (the kernel tree).
    """
    import psutil

    t0 = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        root = psutil.Process(proc.pid)
        peak_sum, peak_hwm, status = 0, 0, "ok"
        seen: dict[int, psutil.Process] = {}
        while proc.poll() is None:
            try:
                tree = root.children(recursive=True)
                if not exclude_root:
                    tree.append(root)
            except psutil.NoSuchProcess:
                tree = []
            total = 0
            for p in tree:
                seen.setdefault(p.pid, p)
                try:
                    total += p.memory_info().rss
                    peak_hwm = max(peak_hwm, _vm_hwm_bytes(p.pid))
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    pass
            peak_sum = max(peak_sum, total)
            if time.perf_counter() - t0 > timeout:
                status = f"timeout: killed after {timeout:.0f} s"
                for p in list(seen.values()) + [root]:  # only processes this run started
                    try:
                        p.kill()
                    except psutil.NoSuchProcess:
                        pass
                proc.wait()
                break
            time.sleep(0.1)
        elapsed = time.perf_counter() - t0
    result = None
    for line in log_path.read_text(errors="replace").splitlines():
        if line.startswith(RESULT_TAG):
            result = json.loads(line[len(RESULT_TAG):])
    if result is None and status == "ok":
        status = f"error: exit code {proc.returncode}, no result (log {log_path})"
    return result, float(max(peak_sum, peak_hwm)), status, elapsed


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("LECTURE_SCALE", "small")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


# --------------------------------------------------------------------------- #
# Workers (run inside the measured subprocess)
# --------------------------------------------------------------------------- #
def notebook_kernel_manager_class():
    """nbclient's kernel manager here: its client does not lose replies on a busy CPU
    (coursekit/kernel_client.py; the repository root is on the worker's PYTHONPATH)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from coursekit.kernel_client import EdgeSafeAsyncKernelManager

    return EdgeSafeAsyncKernelManager


def worker_notebook(path: Path, cell_timeout: int) -> None:
    import resource

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3",
                            kernel_manager_class=notebook_kernel_manager_class(),
                            resources={"metadata": {"path": str(path.parent)}})
    status = "ok"
    t0 = time.perf_counter()
    try:
        client.execute()  # in memory only: the file on disk is not touched
    except CellTimeoutError as exc:
        status = f"timeout: cell over {cell_timeout} s ({str(exc).splitlines()[0][:120]})"
    except CellExecutionError as exc:
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # drop ANSI colours of tracebacks
        lines = [ln for ln in text.splitlines() if ln.strip()]
        status = "error: " + (lines[-1][:200] if lines else type(exc).__name__)
    wall = time.perf_counter() - t0
    kernel_maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
    print(RESULT_TAG + json.dumps({"wall_s": wall, "status": status,
                                   "children_maxrss_bytes": kernel_maxrss}), flush=True)


def _digits_like(n: int, image: bool, seed: int = 0):
    """Standardised sklearn digits; rows beyond the 1797 originals are resampled with noise."""
    import numpy as np
    from sklearn.datasets import load_digits

    x = load_digits().data.astype(np.float64)
    rng = np.random.default_rng(seed)
    if n > len(x):
        extra = x[rng.integers(0, len(x), n - len(x))] + rng.normal(0, 0.5, (n - len(x), x.shape[1]))
        x = np.concatenate([x, extra])
    x = x[:n]
    x = (x - x.mean(0)) / (x.std(0) + 1e-8)
    return x.reshape(n, 8, 8, 1) if image else x


def _lecture_lib_kernel(arch: str, dtype: str, batch_size: int):
    from lecture_lib import kernels

    kfn = (kernels.fc(depth=2, activation="relu") if arch == "fc"
           else kernels.conv(depth=2, activation="relu", pooling="global_avg"))[2]
    return lambda x: kernels.analytic_kernel(kfn, x, None, get="ntk", batch_size=batch_size,
                                             dtype=dtype)


def _stax_kernel(arch: str, dtype: str, batch_size: int):
    import contextlib

    import jax
    import numpy as np

    # neural-tangents without its TensorFlow interop (TensorFlow is not installed)
    from lecture_lib._neural_tangents import nt, stax

    w = 2 ** 0.5
    if arch == "fc":
        layers = [stax.Dense(512, W_std=w), stax.Relu(), stax.Dense(512, W_std=w), stax.Relu()]
    else:
        layers = [stax.Conv(64, (3, 3), padding="SAME", W_std=w), stax.Relu(),
                  stax.Conv(64, (3, 3), padding="SAME", W_std=w), stax.Relu(), stax.GlobalAvgPool()]
    kfn = stax.serial(*layers, stax.Dense(1, W_std=w))[2]
    fn = (jax.jit(kfn, static_argnames="get") if batch_size == 0
          else nt.batch(kfn, batch_size=batch_size, device_count=0, store_on_device=False))
    np_dtype = np.float64 if dtype == "float64" else np.float32

    def compute(x):
        from jax.experimental import enable_x64

        ctx = enable_x64() if dtype == "float64" else contextlib.nullcontext()
        with ctx:
            return np.asarray(fn(np.asarray(x, np_dtype), None, get="ntk"))

    return compute


def worker_import(module: str) -> None:
    import importlib
    import resource

    t0, c0 = time.perf_counter(), time.process_time()
    importlib.import_module(module)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(RESULT_TAG + json.dumps({
        "wall_s": wall, "cpu_s": cpu, "status": "ok",
        "maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,  # KiB on Linux
        "tensorflow": any(m == "tensorflow" or m.startswith("tensorflow.") for m in sys.modules),
    }), flush=True)


def worker_kernel(name: str, out: Path | None) -> None:
    import numpy as np

    arch, n, dtype, batch_size = KERNEL_CASES[name]
    x = _digits_like(n, image=(arch == "cntk"))
    impl = "lecture_lib.kernels"
    try:
        compute = _lecture_lib_kernel(arch, dtype, batch_size)
        t0 = time.perf_counter()
        k = compute(x)
    except (ImportError, NotImplementedError, AttributeError) as exc:
        impl = f"stax directly (lecture_lib.kernels unavailable: {type(exc).__name__})"
        compute = _stax_kernel(arch, dtype, batch_size)
        t0 = time.perf_counter()
        k = compute(x)
    first = time.perf_counter() - t0
    second, repeat_equal = None, None
    if first <= SECOND_CALL_MAX_S:  # compiled re-run; skipped when slow (shared machine)
        t1 = time.perf_counter()
        k2 = compute(x)
        second = time.perf_counter() - t1
        repeat_equal = bool(np.array_equal(k, k2))
    finite = bool(np.isfinite(k).all())
    if out is not None:
        np.save(out, np.asarray(k, dtype=np.float64))
    print(RESULT_TAG + json.dumps({
        "wall_s": first, "second_call_s": second, "impl": impl, "dtype_out": str(k.dtype),
        "shape": list(k.shape), "finite": finite, "repeat_equal": repeat_equal,
        "status": "ok" if finite and k.shape == (n, n) else "error: non-finite or wrong shape",
    }), flush=True)


# --------------------------------------------------------------------------- #
# Driver
# --------------------------------------------------------------------------- #
def _matches(name: str, pattern: str | None) -> bool:
    if not pattern:
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatch(name, pattern)
    return pattern in name


def bench_imports(pattern: str | None, timeout: float, work: Path) -> list[Result]:
    import statistics

    results = []
    for name, module in IMPORT_CASES.items():
        if not _matches(name, pattern):
            continue
        print(f"[import] {name} x{IMPORT_RUNS} ...", end=" ", flush=True, file=sys.stderr)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--_worker", "import", module]
        walls, cpus, peaks, procs, tf, status = [], [], [], [], False, "ok"
        for i in range(IMPORT_RUNS):
            res, peak, st, elapsed = run_measured(cmd, _child_env(), timeout, False,
                                                  work / f"import-{name}-{i}.log")
            if res is None:
                status = st
                break
            walls.append(res["wall_s"])
            cpus.append(res["cpu_s"])
            peaks.append(max(peak, res["maxrss_bytes"]))
            procs.append(elapsed)
            tf = tf or res["tensorflow"]
        r = Result("import", name, status=status)
        if walls:
            r.wall_s, r.peak_mb = min(walls), max(peaks) / 2**20
            ok = r.wall_s <= IMPORT_TARGET_S and r.peak_mb <= IMPORT_TARGET_MB and not tf
            r.notes += [
                f"fresh interpreter, best of {len(walls)}; median {statistics.median(walls):.2f} s; "
                f"CPU time of the import median {statistics.median(cpus):.2f} s (less sensitive to a "
                "loaded machine than wall time); "
                f"whole process (start + import + exit) median {statistics.median(procs):.2f} s",
                f"target <= {IMPORT_TARGET_S} s, <= {IMPORT_TARGET_MB:.0f} MB: "
                + ("met" if ok else "NOT met"),
                "tensorflow imported: " + ("YES" if tf else "no"),
            ]
        results.append(r)
        print(f"{r.wall_s or 0:.2f} s, {r.peak_mb or 0:.0f} MB, {r.status}", file=sys.stderr)
    return results


def bench_notebooks(nb_dir: Path, pattern: str | None, timeout: float, work: Path) -> list[Result]:
    results = []
    notebooks = sorted(p for p in nb_dir.glob("*.ipynb") if _matches(p.stem, pattern))
    if not notebooks:
        print(f"no notebooks matching {pattern or '*'} in {nb_dir}", file=sys.stderr)
    for path in notebooks:
        print(f"[notebook] {path.name} ...", end=" ", flush=True, file=sys.stderr)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--_worker", "notebook", str(path),
               "--cell-timeout", str(int(timeout))]
        res, peak, status, elapsed = run_measured(cmd, _child_env(), timeout + 60, True,
                                                  work / f"{path.stem}.log")
        r = Result("notebook", path.stem, status=status)
        if res:
            r.wall_s = res["wall_s"]
            r.status = res["status"] if status == "ok" else status
            peak = max(peak, res.get("children_maxrss_bytes", 0))
        else:
            r.wall_s = elapsed
        r.peak_mb = peak / 2**20 if peak else None
        r.notes.append(f"LECTURE_SCALE={_child_env()['LECTURE_SCALE']}")
        results.append(r)
        print(f"{r.wall_s:.1f} s, {r.peak_mb or 0:.0f} MB, {r.status}", file=sys.stderr)
    return results


def bench_kernels(pattern: str | None, timeout: float, work: Path) -> list[Result]:
    results, saved = [], {}
    for name in KERNEL_CASES:
        if not _matches(name, pattern):
            continue
        print(f"[kernel] {name} ...", end=" ", flush=True, file=sys.stderr)
        out = work / f"{name}.npy"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--_worker", "kernel", name,
               "--out", str(out)]
        res, peak, status, elapsed = run_measured(cmd, _child_env(), timeout, False,
                                                  work / f"{name}.log")
        r = Result("kernel", name, status=status, peak_mb=peak / 2**20 if peak else None)
        if res:
            r.wall_s, r.status = res["wall_s"], res["status"]
            if res["second_call_s"] is None:
                r.notes.append(f"2nd call skipped (1st > {SECOND_CALL_MAX_S:.0f} s)")
            else:
                r.notes.append(f"2nd call {res['second_call_s']:.2f} s")
                if not res["repeat_equal"]:
                    r.notes.append("2nd call differs")
            if not res["impl"].startswith("lecture_lib"):
                r.notes.append(res["impl"])
            if out.exists():
                saved[name] = out
        else:
            r.wall_s = elapsed
        results.append(r)
        print(f"{r.wall_s:.1f} s, {r.peak_mb or 0:.0f} MB, {r.status}", file=sys.stderr)
    # float32 vs float64 agreement for each pair that ran
    import numpy as np

    for r in results:
        if "float32" in r.name and r.name.replace("float32", "float64") in saved and r.name in saved:
            k32 = np.load(saved[r.name])
            k64 = np.load(saved[r.name.replace("float32", "float64")])
            rel = np.linalg.norm(k32 - k64) / np.linalg.norm(k64)
            r.notes.append(f"rel. Frobenius diff vs float64 {rel:.1e}")
    return results


def to_markdown(results: list[Result], argv: list[str], total_s: float) -> str:
    try:
        load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        load = "n/a"
    lines = [
        "# Benchmarks",
        "",
        "Command: `" + " ".join(["python benchmarks/run_benchmarks.py", *argv]) + "`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; host: {platform.node()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"LECTURE_SCALE={_child_env()['LECTURE_SCALE']}; load average (1/5/15 min) at the end: "
        f"{load}; total {total_s:.0f} s.  ",
        f"Limits: notebooks must run in < {LIMIT_S:.0f} s and < {LIMIT_MB / 1024:.0f} GB "
        "(the same check is shown for the kernel computations as a guide); "
        f"imports: <= {IMPORT_TARGET_S} s and <= {IMPORT_TARGET_MB:.0f} MB.  "
        "Timings on a shared, loaded CPU are inflated.",
        "",
        "| benchmark | wall time (s) | peak memory (MB) | limit check (90 s / 2 GB; imports 1.5 s / 350 MB) | notes |",
        "|---|---:|---:|---|---|",
    ]
    for r in results:
        wall = "-" if r.wall_s is None else f"{r.wall_s:.{2 if r.kind == 'import' else 1}f}"
        peak = f"{r.peak_mb:.0f}" if r.peak_mb is not None else "-"
        notes = "; ".join(r.notes + ([r.status] if r.status != "ok" else []))
        lines.append(f"| {r.kind}: {r.name} | {wall} | {peak} | {r.limit_check()} | "
                     f"{notes.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--notebooks-only", action="store_true", help="only execute the notebooks")
    group.add_argument("--kernels-only", action="store_true", help="only time the kernel computations")
    group.add_argument("--imports-only", action="store_true",
                       help="only time `import lecture_lib.kernels` in fresh interpreters")
    ap.add_argument("--only", metavar="PATTERN",
                    help="run only benchmarks whose name matches (glob if it has *?[, else substring)")
    ap.add_argument("--notebook-dir", type=Path, default=REPO / "notebooks",
                    help="folder of notebooks to execute (default: notebooks/)")
    ap.add_argument("--timeout", type=float, default=600,
                    help="seconds per notebook cell / per kernel case before it is killed (default 600)")
    ap.add_argument("--output", type=Path, default=HERE / "results.md",
                    help="markdown file to (over)write (default: benchmarks/results.md)")
    ap.add_argument("--fail-on-limit", action="store_true",
                    help="exit 1 also when a run exceeds 90 s or 2 GB")
    ap.add_argument("--_worker", nargs=2, metavar=("KIND", "TARGET"), help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--cell-timeout", type=int, default=600, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._worker:
        kind, target = args._worker
        if kind == "notebook":
            worker_notebook(Path(target), args.cell_timeout)
        elif kind == "import":
            worker_import(target)
        else:
            worker_kernel(target, args.out)
        return 0

    if args.timeout <= 0:
        ap.error("--timeout must be positive")
    nb_dir = args.notebook_dir.expanduser().resolve()
    run_imports = not (args.notebooks_only or args.kernels_only)
    run_notebooks = not (args.kernels_only or args.imports_only)
    run_kernels = not (args.notebooks_only or args.imports_only)
    if run_notebooks and not nb_dir.is_dir():
        ap.error(f"--notebook-dir {nb_dir} is not a directory")
    t0 = time.perf_counter()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="lecture-bench-") as tmp:
        work = Path(tmp)
        if run_imports:
            results += bench_imports(args.only, args.timeout, work)
        if run_notebooks:
            results += bench_notebooks(nb_dir, args.only, args.timeout, work)
        if run_kernels:
            results += bench_kernels(args.only, args.timeout, work)
        failed_logs = {r.name: (work / (f"import-{r.name}-0.log" if r.kind == "import" else f"{r.name}.log"))
                       for r in results if r.status != "ok"}
        for name, log in failed_logs.items():
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-15:]
                print(f"--- last lines of the {name} run ---\n" + "\n".join(tail), file=sys.stderr)
    if not results:
        print("nothing matched; nothing written", file=sys.stderr)
        return 1
    table = to_markdown(results, argv, time.perf_counter() - t0)
    print(table)
    args.output.write_text(table)
    print(f"written to {args.output}", file=sys.stderr)
    bad = [r for r in results if r.status != "ok"
           or (args.fail_on_limit and r.limit_check() != "OK")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
