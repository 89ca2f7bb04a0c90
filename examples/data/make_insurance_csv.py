"""Write examples/data/insurance.csv: car-insurance applications with two targets.

    python examples/data/make_insurance_csv.py      # rewrites insurance.csv (seeded)

The table imitates the slides' "insurance premiums in a production data-science
pipeline": one row per application, about 700 feature columns, and two things
to predict from them, the premium (in pounds) and whether the brand quotes at
all (1 yes, 0 no). Columns:

* ``random_id``: a hex id (text, which ``csv(...)`` skips);
* eight numbers: ``driver_age``, ``years_licensed``, ``vehicle_value`` (£k),
  ``annual_mileage`` (k miles), ``engine_size`` (litres), ``claims_5y``,
  ``postcode_risk`` (0 to 1) and ``partition_id``;
* flags, 0 or 1, as on the slide: ``amend``, ``any_modifications``,
  ``any_prosecutions``, ``autorenew``, then ``flag_004`` … ``flag_691``, which
  carry no signal (as most columns of a wide production table do not);
* the targets ``premium`` and ``quote``.

``premium`` depends non-linearly on a few columns (it falls steeply with the
driver's age, grows with vehicle value, more so for modified cars, and with
mileage above 10k and prosecutions), with 5% noise. ``quote`` depends on
others: the brand quotes when a risk score is low (claims in the last five
years, the postcode's risk and a changed policy raise it; auto-renewal lowers
it), with 2% of the decisions flipped at random. Rows × columns are kept small
(1,400 × 703, 702 numeric) so the file stays under 2 MB.

The same seed writes the same file, so the examples' measured results hold.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SEED = 11
ROWS = 1400
NOISE_FLAGS = 688  # flag_004 ... flag_691: with 4 named flags and 8 numbers, 700
PREMIUM_NOISE = 0.05  # relative
QUOTE_FLIPS = 0.02

NUMBERS = (
    "driver_age",
    "years_licensed",
    "vehicle_value",
    "annual_mileage",
    "engine_size",
    "claims_5y",
    "postcode_risk",
    "partition_id",
)
FLAGS = ("amend", "any_modifications", "any_prosecutions", "autorenew")


def make_features(rng: np.random.Generator, rows: int) -> dict[str, np.ndarray]:
    """Every feature column by name, numbers rounded as a CSV would hold them."""
    age = rng.integers(18, 80, rows)
    cols = {
        "driver_age": age,
        "years_licensed": np.minimum(age - 17, rng.integers(0, 45, rows)),
        "vehicle_value": np.round(rng.lognormal(np.log(12.0), 0.5, rows), 1),
        "annual_mileage": np.round(rng.gamma(4.0, 2.5, rows), 1),
        "engine_size": np.round(rng.choice([1.0, 1.2, 1.4, 1.6, 2.0, 3.0], rows), 1),
        "claims_5y": rng.poisson(0.5, rows),
        "postcode_risk": np.round(rng.random(rows), 2),
        "partition_id": rng.integers(0, 11, rows),
        "amend": (rng.random(rows) < 0.3).astype(int),
        "any_modifications": (rng.random(rows) < 0.2).astype(int),
        "any_prosecutions": (rng.random(rows) < 0.1).astype(int),
        "autorenew": (rng.random(rows) < 0.5).astype(int),
    }
    rates = rng.uniform(0.05, 0.5, NOISE_FLAGS)
    for k, rate in enumerate(rates, start=len(FLAGS)):
        cols[f"flag_{k:03d}"] = (rng.random(rows) < rate).astype(int)
    return cols


def premium_of(cols: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Pounds: young drivers, dear or modified cars, mileage and prosecutions cost."""
    age = cols["driver_age"]
    value = cols["vehicle_value"]
    youth = 900.0 * np.exp(-(age - 18) / 7.0)
    car = 15.0 * value * (1.0 + cols["any_modifications"])
    miles = 25.0 * np.maximum(cols["annual_mileage"] - 10.0, 0.0)
    record = 250.0 * cols["any_prosecutions"]
    premium = 250.0 + youth + car + miles + record
    return np.round(premium * (1.0 + rng.normal(0.0, PREMIUM_NOISE, len(age))), 2)


def quote_of(cols: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """1 when the brand quotes: a linear risk score is below its appetite."""
    risk = (
        cols["claims_5y"]
        + 2.0 * cols["postcode_risk"]
        + 0.8 * cols["amend"]
        - 0.8 * cols["autorenew"]
    )
    quote = (risk < 1.2).astype(int)
    flip = rng.random(len(quote)) < QUOTE_FLIPS
    return np.where(flip, 1 - quote, quote)


def make_table(seed: int = SEED, rows: int = ROWS) -> dict[str, np.ndarray]:
    """Columns in file order: id, features, then ``premium`` and ``quote``."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"{v:08X}" for v in rng.integers(0, 2**32, rows)])
    cols = make_features(rng, rows)
    return {
        "random_id": ids,
        **cols,
        "premium": premium_of(cols, rng),
        "quote": quote_of(cols, rng),
    }


def write_csv(path: Path, table: dict[str, np.ndarray]) -> None:
    """A header row, then one comma-separated row per application."""
    columns = [[str(v) for v in values] for values in table.values()]
    lines = [",".join(table)] + [",".join(row) for row in zip(*columns, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).with_name("insurance.csv")
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--rows", type=int, default=ROWS)
    args = parser.parse_args()
    write_csv(args.out, make_table(args.seed, args.rows))


if __name__ == "__main__":
    main()
