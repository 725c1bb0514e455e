"""Run every notebook for several ``LECTURE_SEED`` values and tabulate pass/fail and time.

The assertions of a notebook must hold for other seeds too (a claim that holds for one seed only is
luck).  Each (notebook, seed) runs in its own subprocess with the notebook worker of
``run_benchmarks.py`` (nbclient, in memory: the ``.ipynb`` on disk is not touched); a failing
assertion shows as ``FAIL`` with its message.

    .venv/bin/python benchmarks/seed_sweep.py                       # all notebooks, seeds 0-4
    .venv/bin/python benchmarks/seed_sweep.py --seeds 0,3 --only 05  # one notebook, two seeds
    make seeds                                                       # the same as the first line

Writes ``benchmarks/seed_results.md`` (``--output`` to change).  Not part of ``make test``: five
executions of every notebook take ~5x the notebook test.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run_benchmarks as rb  # noqa: E402


def sweep(notebooks: list[Path], seeds: list[int], timeout: float) -> dict[tuple[str, int], tuple[str, float]]:
    out = {}
    with tempfile.TemporaryDirectory(prefix="seed_sweep_") as work:
        for path in notebooks:
            for seed in seeds:
                print(f"[{path.stem}] seed {seed} ...", end=" ", flush=True, file=sys.stderr)
                env = rb._child_env()
                env["LECTURE_SEED"] = str(seed)
                cmd = [sys.executable, str(HERE / "run_benchmarks.py"), "--_worker", "notebook",
                       str(path), "--cell-timeout", str(int(timeout))]
                res, _, status, elapsed = rb.run_measured(cmd, env, timeout + 60, True,
                                                          Path(work) / f"{path.stem}_{seed}.log")
                if res:
                    status, elapsed = (res["status"] if status == "ok" else status), res["wall_s"]
                out[path.stem, seed] = (status, elapsed)
                print(f"{status} ({elapsed:.0f} s)", file=sys.stderr)
    return out


def to_markdown(results, notebooks, seeds, argv) -> str:
    lines = ["# Seed sweep", "",
             "Command: `" + " ".join(["python benchmarks/seed_sweep.py", *argv]) + "`  ",
             f"Date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; {os.cpu_count()} CPUs; "
             f"LECTURE_SCALE={rb._child_env()['LECTURE_SCALE']}.  Cell: PASS/FAIL and wall time (s).", "",
             "| notebook | " + " | ".join(f"seed {s}" for s in seeds) + " |",
             "|---|" + "---|" * len(seeds)]
    failures = []
    for path in notebooks:
        cells = []
        for s in seeds:
            status, t = results[path.stem, s]
            cells.append(f"{'PASS' if status == 'ok' else 'FAIL'} {t:.0f}")
            if status != "ok":
                failures.append(f"- {path.stem}, seed {s}: {status}")
        lines.append(f"| {path.stem} | " + " | ".join(cells) + " |")
    if failures:
        lines += ["", "Failures:", *failures]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (default 0,1,2,3,4)")
    ap.add_argument("--only", metavar="PATTERN", help="notebooks whose name matches (as run_benchmarks)")
    ap.add_argument("--notebook-dir", type=Path, default=rb.REPO / "notebooks")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per cell (default 600)")
    ap.add_argument("--output", type=Path, default=HERE / "seed_results.md")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    notebooks = sorted(p for p in args.notebook_dir.glob("[0-9][0-9]_*.ipynb") if rb._matches(p.stem, args.only))
    if not notebooks or not seeds:
        ap.error("no notebooks or no seeds selected")
    results = sweep(notebooks, seeds, args.timeout)
    text = to_markdown(results, notebooks, seeds, argv)
    args.output.write_text(text)
    print(text)
    return 0 if all(status == "ok" for status, _ in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
