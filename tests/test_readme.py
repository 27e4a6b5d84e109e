"""The README quotes only generated numbers: every interval it prints is in a generated table."""

import re
from pathlib import Path

import pandas as pd

NUMBER = r"[+\-−]?\d+\.\d+"
INTERVAL = re.compile(rf"({NUMBER})\s+\[({NUMBER}),\s+({NUMBER})\]")


def number(text: str) -> float:
    return float(text.replace("−", "-"))


def generated_triples() -> set[tuple[float, float, float]]:
    """(mean, low, high) rounded to 2 decimals from every summary and contrast table."""
    triples = set()
    for path in Path("results").glob("*/figures/summary.csv"):
        table = pd.read_csv(path)
        triples |= set(zip(table["mean"], table["ci_low"], table["ci_high"], strict=True))
    for path in Path("results").glob("*/figures/contrasts.csv"):
        table = pd.read_csv(path)
        for low, high in (("ci_low", "ci_high"), ("ci_low_adj", "ci_high_adj")):
            triples |= set(zip(table["mean"], table[low], table[high], strict=True))
    return {tuple(round(v + 0.0, 2) for v in triple) for triple in triples}


def test_every_interval_in_the_readme_comes_from_a_generated_table():
    quoted = [
        tuple(number(part) for part in match.groups())
        for match in INTERVAL.finditer(Path("README.md").read_text())
    ]
    assert len(quoted) >= 15  # the paper section quotes its verdicts with their intervals
    known = generated_triples()
    close = {(round(m, 2), round(lo, 2), round(hi, 2)) for m, lo, hi in known}
    missing = [q for q in quoted if q not in close]
    assert not missing, f"README intervals found in no generated table: {missing}"
