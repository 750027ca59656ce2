"""The embedded default of a forecasting task: an hourly electricity load with a daily and a weekly
cycle, a temperature it follows and holidays, in the layout a user's series would have
(``timestamp``, ``load``, ``temperature``, ``holiday``).

The load is a daily shape (a morning rise, an evening peak, a night trough) scaled down at weekends
and on holidays, plus cooling demand on hot afternoons and AR(1) noise, so that the seasonal naive
forecast is good but not unbeatable: the temperature (observed only in the past) and the holiday
flag (known in advance) carry what the last week's same hour cannot. Twelve weeks by default, so a
default run is quick.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

GENERATOR_ID = 6  # the stream of this generator (pipeline.generators.synthetic._rng's numbering)
START = "2024-01-01 00:00"  # a Monday


def load_frame(rows: int, seed: int, *, stream: int = 0) -> pd.DataFrame:
    """``rows`` consecutive hours from Monday 2024-01-01: the load in MW and its covariates."""
    rng = np.random.default_rng([seed, GENERATOR_ID] + ([stream] if stream else []))
    times = pd.date_range(START, periods=rows, freq="h")
    hour = times.hour.to_numpy() + 0.0
    day = np.arange(rows) // 24
    weekday = times.dayofweek.to_numpy()
    holiday = np.zeros(rows, dtype=int)
    days_off = rng.choice(np.unique(day[weekday < 5]), size=max(1, rows // (24 * 30)), replace=False)
    holiday[np.isin(day, days_off)] = 1
    daily = (
        0.55
        + 0.25 * np.exp(-((hour - 8.5) ** 2) / 4)
        + 0.4 * np.exp(-((hour - 18.5) ** 2) / 6)
        - 0.15 * np.exp(-((hour - 3.5) ** 2) / 5)
    )
    off = (weekday >= 5) | (holiday == 1)
    warm_days = 18 + 6 * np.sin(2 * np.pi * day / 45) + rng.normal(0, 1.5, day.max() + 1)[day]
    temperature = warm_days + 5 * np.sin(2 * np.pi * (hour - 9) / 24) + rng.normal(0, 0.6, rows)
    cooling = 0.02 * np.clip(temperature - 20, 0, None) * (hour >= 11) * (hour <= 20)
    noise = np.zeros(rows)
    shocks = rng.normal(0, 0.015, rows)
    for t in range(1, rows):
        noise[t] = 0.8 * noise[t - 1] + shocks[t]
    load = 1000 * (daily * np.where(off, 0.78, 1.0) + cooling + noise)
    return pd.DataFrame(
        {
            "timestamp": times.strftime("%Y-%m-%d %H:%M"),
            "load": load.round(1),
            "temperature": temperature.round(1),
            "holiday": holiday,
        }
    )
