"""Training throughput of the single-run and batched engines against the machine's ceiling.

`make bench` runs this: for each Keras backend (TensorFlow and JAX, each in its own
process, one after the other) and hidden size, the wall time of each engine training runs
of that size (full MNIST training set, the default recipe, a few epochs, setup and
evaluation included: what a grid pays), the achieved training GFLOP/s (6 x images x
(784H + 10H) per run and epoch) as a fraction of a matrix-product ceiling measured in the
same run (the fastest product of any backend); and, end to end, grids trained by both
engines side by side. Medians over repeats, with the
spread. Writes benchmarks/results.csv and benchmarks/RESULTS.md, and with `--readme` the
table into the README between its `bench` markers. Absolute numbers belong to this
machine and this run only.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_TRAIN = 50_000


def ceiling(size: int = 4096, repeats: int = 5) -> tuple[float, str]:
    """GFLOP/s of the fastest float32 `size x size` matrix product among NumPy, the Keras
    backend in use, and JAX if installed: (best, which)."""
    flops = 2 * size**3
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    results: dict[str, float] = {}

    def best_of(product) -> float:
        product()  # warm up (and compile)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            product()
            times.append(time.perf_counter() - start)
        return flops / min(times) / 1e9

    results["numpy"] = best_of(lambda: a @ a)
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        x = tf.constant(a)
        results["tensorflow"] = best_of(lambda: tf.matmul(x, x).numpy())
    try:
        import jax
        import jax.numpy as jnp

        y = jnp.asarray(a)
        product = jax.jit(lambda m: m @ m)
        results["jax"] = best_of(lambda: product(y).block_until_ready())
    except ImportError:
        pass
    which = max(results, key=results.get)
    return results[which], which


def training_flops(hidden_units: int, members: int, images: int = N_TRAIN) -> float:
    """Multiply-adds x 2 x 3 (forward, two backward products) of one epoch of 784-H-10."""
    return 6.0 * images * (784 + 10) * hidden_units * members


def run_seconds(engine: str, hidden_units: int, members: int, epochs: int, data) -> float:
    """Wall time of `engine` training `members` runs of size `hidden_units` (one seed, none
    and L2 of increasing strength) for `epochs`, evaluation and setup included."""
    from experiments import batched, runner
    from experiments.config import RunConfig

    runs = [RunConfig(hidden_units=hidden_units, epochs=epochs,
                      hidden_regularizer={"name": "l2", "l2": 1e-5 * k} if k else None)
            for k in range(members)]  # fmt: skip
    start = time.perf_counter()
    if engine == "batched":
        results = batched.train_batch(runs, data)
    else:
        results = [runner.train_run(run, data) for run in runs]
    seconds = time.perf_counter() - start
    failed = [row["error"] for row, _ in results if row["status"] != "ok"]
    if failed:
        raise RuntimeError(f"{engine} engine failed: {failed[0]}")
    return seconds


def grid_seconds(config: Path, engine: str, seeds: int | None) -> tuple[float, int]:
    """Wall time of training `config` (first `seeds` seeds) from scratch with `engine`."""
    from experiments.config import load_config
    from experiments.grid import run_grid

    runs = load_config(config).runs
    if seeds is not None:
        runs = [run for run in runs if run.seed < seeds]
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        run_grid(runs, Path(folder) / "results", quiet=True, engine=engine, command=["bench"])
        return time.perf_counter() - start, len(runs)


def measure(args: argparse.Namespace) -> pd.DataFrame:
    """Every timing of this process's Keras backend: runs per size and engine, then grids."""
    from experiments.batched import MAX_MEMBERS, MAX_UNITS
    from experiments.data import load_mnist
    from experiments.runner import enable_determinism, environment

    enable_determinism()
    data = load_mnist()
    best, which = ceiling()
    backend = environment()["backend"]
    print(f"{backend}: ceiling {best:.0f} GFLOP/s ({which})", flush=True)
    rows = []
    for hidden_units in args.sizes:
        members = max(1, min(MAX_MEMBERS, MAX_UNITS // hidden_units))
        for engine, k in (("single", 1), ("batched", members)):
            times = [run_seconds(engine, hidden_units, k, args.epochs, data)
                     for _ in range(args.repeats)]  # fmt: skip
            median = statistics.median(times)
            rows.append({
                "what": "runs", "hidden_units": hidden_units, "engine": engine, "members": k,
                "seconds": median, "spread": max(times) - min(times), "repeats": len(times),
                "gflops": training_flops(hidden_units, k) * args.epochs / median / 1e9,
            })  # fmt: skip
            print(backend, rows[-1], flush=True)
    for spec in args.grid:
        config, _, seeds = spec.partition(":")
        for engine in ("single", "batched"):
            seconds, runs = grid_seconds(ROOT / config, engine, int(seeds) if seeds else None)
            what = f"grid {Path(config).stem}" + (f", seeds < {seeds}" if seeds else "")
            rows.append({"what": what, "engine": engine, "members": runs, "seconds": seconds,
                         "repeats": 1})  # fmt: skip
            print(backend, rows[-1], flush=True)
    table = pd.DataFrame(rows)
    table["backend"], table["ceiling_gflops"], table["ceiling_source"] = backend, best, which
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backends",
        nargs="+",
        default=["tensorflow", "jax"],
        help="Keras backends to measure, each in its own process, one after another",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 256, 1024, 4096])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per timed run")
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        help="config to train end to end with both engines, CONFIG[:SEEDS]",
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks"))
    parser.add_argument("--readme", help="README whose `bench` section gets the table")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # CSV for one backend's timings
    args = parser.parse_args()
    if args.worker:
        measure(args).to_csv(args.worker, index=False)
        return
    table = pd.concat(
        [measure_in_process(backend, sys.argv[1:]) for backend in args.backends], ignore_index=True
    )
    # One ceiling for every row: the fastest product any backend's process measured.
    best = table.loc[table["ceiling_gflops"].idxmax()]
    table["ceiling_gflops"], table["ceiling_source"] = (
        best["ceiling_gflops"],
        best["ceiling_source"],
    )
    table["fraction_of_ceiling"] = table["gflops"] / table["ceiling_gflops"]
    table["cores"], table["host"] = os.cpu_count(), platform.node()
    table["measured_at"] = time.strftime("%Y-%m-%d")
    out = Path(args.out)
    table.to_csv(out / "results.csv", index=False, float_format="%.4g")
    markdown = summary_markdown(table, args.epochs)
    (out / "RESULTS.md").write_text(markdown)
    if args.readme:
        replace_section(Path(args.readme), markdown)
    print(markdown)


def measure_in_process(backend: str, argv: list[str]) -> pd.DataFrame:
    """`measure` in a fresh Python process with `KERAS_BACKEND=backend` (Keras picks its
    backend once per process)."""
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "timings.csv"
        env = {**os.environ, "KERAS_BACKEND": backend}
        subprocess.run([sys.executable, __file__, *argv, "--worker", str(csv)], env=env,
                       check=True)  # fmt: skip
        return pd.read_csv(csv)


def summary_markdown(table: pd.DataFrame, epochs: int) -> str:
    """The README table: per size and backend, both engines' throughput as a fraction of
    the ceiling, the batched engine's speedup, and the fastest engine's speedup over
    TensorFlow's single-run engine; then the grids end to end."""
    first = table.iloc[0]
    lines = [
        f"Measured {first['measured_at']} by `make bench` ({', '.join(table['backend'].unique())}, "
        f"{first['cores']} cores); ceiling {first['ceiling_gflops']:.0f} GFLOP/s "
        f"({first['ceiling_source']} float32 4096x4096 product, the fastest of NumPy, "
        f"TensorFlow and JAX). Each run: {epochs} epochs on 50,000 images, setup and "
        "evaluation included; median of the repeats, spread = max - min.",
        "",
        "| hidden units | backend | members per batch | single: s (spread) | single: fraction "
        "of ceiling | batched: s per run (spread) | batched: fraction of ceiling | batched "
        "speedup | fastest vs TensorFlow single |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    runs = table[table["what"] == "runs"]
    reference = runs[(runs["engine"] == "single") & (runs["backend"] == "tensorflow")]
    reference = reference.set_index("hidden_units")["seconds"]
    for (hidden_units, backend), pair in runs.groupby(["hidden_units", "backend"], sort=True):
        single = pair[pair["engine"] == "single"].iloc[0]
        stacked = pair[pair["engine"] == "batched"].iloc[0]
        k = int(stacked["members"])
        per_run = stacked["seconds"] / k
        fastest = (f"{reference[hidden_units] / min(single['seconds'], per_run):.1f}x"
                   if hidden_units in reference.index else "")  # fmt: skip
        lines.append(
            f"| {int(hidden_units)} | {backend} | {k} | {single['seconds']:.1f} "
            f"({single['spread']:.1f}) | {single['fraction_of_ceiling']:.2f} | {per_run:.2f} "
            f"({stacked['spread'] / k:.2f}) | {stacked['fraction_of_ceiling']:.2f} | "
            f"{single['seconds'] / per_run:.1f}x | {fastest} |"
        )
    grids = table[table["what"].str.startswith("grid")]
    if len(grids):
        lines += ["", "| grid, end to end | backend | runs | single (s) | batched (s) | ratio |",
                  "|---|---|---:|---:|---:|---:|"]  # fmt: skip
        for (what, backend), pair in grids.groupby(["what", "backend"], sort=False):
            single = pair[pair["engine"] == "single"]["seconds"].iloc[0]
            stacked = pair[pair["engine"] == "batched"]["seconds"].iloc[0]
            runs_in = int(pair["members"].iloc[0])
            lines.append(f"| {what} | {backend} | {runs_in} | {single:.0f} | {stacked:.0f} | "
                         f"{stacked / single:.2f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def replace_section(readme: Path, markdown: str) -> None:
    """Put `markdown` between the `<!-- bench:start -->` and `<!-- bench:end -->` lines."""
    text = readme.read_text()
    start, end = "<!-- bench:start -->\n", "<!-- bench:end -->"
    if start not in text or end not in text:
        raise SystemExit(f"{readme}: no `bench` markers to put the table between")
    head, rest = text.split(start, 1)
    readme.write_text(head + start + markdown + end + rest.split(end, 1)[1])


if __name__ == "__main__":
    main()
