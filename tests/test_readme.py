"""The README quotes only generated numbers: every interval it prints is in a generated table."""

import re
from pathlib import Path

import pandas as pd

NUMBER = r"[+\-−]?\d+\.\d+"
INTERVAL = re.compile(rf"({NUMBER})\s+\[({NUMBER}),\s+({NUMBER})\]")


def number(text: str) -> float:
    return float(text.replace("−", "-"))


def generated_triples() -> set[tuple[float, float, float]]:
    """(mean, low, high) from every summary and contrast table."""
    triples = set()
    for path in Path("results").glob("*/figures/summary.csv"):
        table = pd.read_csv(path)
        triples |= set(zip(table["mean"], table["ci_low"], table["ci_high"], strict=True))
    for path in Path("results").glob("*/figures/contrasts.csv"):
        table = pd.read_csv(path)
        for low, high in (("ci_low", "ci_high"), ("ci_low_adj", "ci_high_adj")):
            triples |= set(zip(table["mean"], table[low], table[high], strict=True))
    return triples


def test_every_interval_in_the_readme_comes_from_a_generated_table():
    """An interval is quoted as the reports print it: each number rounded to the decimals it
    is written with (2 for errors, fewer for a norm of about 20)."""
    matches = list(INTERVAL.finditer(Path("README.md").read_text()))
    assert len(matches) >= 15  # the paper section quotes its verdicts with their intervals
    known = generated_triples()
    missing = []
    for match in matches:
        quoted = tuple(number(part) for part in match.groups())
        places = len(match.group(1).split(".")[1])
        rounded = {tuple(round(v + 0.0, places) for v in triple) for triple in known}
        if quoted not in rounded:
            missing.append(match.group(0))
    assert not missing, f"README intervals found in no generated table: {missing}"
