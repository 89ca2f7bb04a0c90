"""Write examples/data/solar.csv: a solar panel's output every 30 minutes for 90 days.

    python examples/data/make_sensor_csv.py      # rewrites solar.csv (seeded)

The series imitates the IoT solar-panel readings of the CNTK lab 3 ("LSTM time
series with IoT data") without downloading them: a daily cycle of sunlight
(zero at night, a sine hump from 6:00 to 18:00), scaled by the day's weather
(a cloudiness that persists from one day to the next) and by clouds passing
within the day (a slowly wandering factor), plus a little sensor noise. Two
columns: ``time`` (text, which ``csv(...)`` skips) and ``current`` (watts).

The same seed writes the same file, so the examples' measured results hold.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SEED = 2024
DAYS = 90
STEPS_PER_DAY = 48  # one reading every 30 minutes
PEAK_WATTS = 1200.0
SENSOR_NOISE = 0.01  # of the peak: small, so the cycle is what there is to learn


def sunlight(steps: int) -> np.ndarray:
    """Clear-sky output in [0, 1]: 0 at night, a sine hump from 6:00 to 18:00."""
    hour = np.arange(steps) % STEPS_PER_DAY * 24.0 / STEPS_PER_DAY
    return np.clip(np.sin(np.pi * (hour - 6.0) / 12.0), 0.0, None)


def daily_weather(days: int, rng: np.random.Generator) -> np.ndarray:
    """One clearness per day in [0.25, 1], persistent (an AR(1) over days)."""
    level = np.empty(days)
    level[0] = 0.7
    for d in range(1, days):
        level[d] = 0.7 + 0.6 * (level[d - 1] - 0.7) + rng.normal(0.0, 0.15)
    return np.clip(level, 0.25, 1.0)


def passing_clouds(steps: int, rng: np.random.Generator) -> np.ndarray:
    """A slowly wandering factor around 1 (an AR(1) over readings)."""
    shade = np.empty(steps)
    shade[0] = 0.0
    for t in range(1, steps):
        shade[t] = 0.9 * shade[t - 1] + rng.normal(0.0, 0.02)
    return 1.0 + shade


def make_series(seed: int = SEED, days: int = DAYS) -> np.ndarray:
    """Watts per reading, ``days * STEPS_PER_DAY`` of them, never negative."""
    rng = np.random.default_rng(seed)
    steps = days * STEPS_PER_DAY
    weather = np.repeat(daily_weather(days, rng), STEPS_PER_DAY)
    clear = sunlight(steps)
    watts = PEAK_WATTS * clear * weather * passing_clouds(steps, rng)
    noise = rng.normal(0.0, SENSOR_NOISE * PEAK_WATTS, steps) * (clear > 0)
    return np.clip(watts + noise, 0.0, None)


def write_csv(path: Path, watts: np.ndarray) -> None:
    """``time,current`` rows from 2024-06-01 00:00, one per reading."""
    start = np.datetime64("2024-06-01T00:00")
    minutes = np.arange(len(watts)) * (24 * 60 // STEPS_PER_DAY)
    times = start + minutes.astype("timedelta64[m]")
    lines = ["time,current"]
    lines += [
        f"{str(t).replace('T', ' ')},{w:.1f}" for t, w in zip(times, watts, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).with_name("solar.csv")
    )
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    write_csv(args.out, make_series(args.seed))


if __name__ == "__main__":
    main()
