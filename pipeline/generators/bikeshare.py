"""The embedded default of the bikeshare task: hourly bike rentals in the layout of
``bikeshare_hourly.csv`` (ISLP's ``Bikeshare`` table: the same columns, in order, with the same
codes and ranges), with a signal a network can learn and a linear model cannot fully: commuter
peaks at 8 and 17-18 on working days, a midday hump on the other days, more riders when it is
warm, fewer in rain and humidity; the count is Poisson around that mean. ``casual`` and
``registered`` add up to ``bikers``, as in the real table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MONTHS = ["Jan", "Feb", "March", "April", "May", "June", "July", "Aug", "Sept", "Oct", "Nov", "Dec"]
WEATHER = ["clear", "cloudy/misty", "light rain/snow", "heavy rain/snow"]
GENERATOR_ID = 5  # the stream of this generator (pipeline.generators.synthetic._rng's numbering)


def bikeshare_frame(rows: int, seed: int, *, stream: int = 0) -> pd.DataFrame:
    """``rows`` hours drawn from a year, in bikeshare_hourly.csv's columns; ``bikers`` the count."""
    rng = np.random.default_rng([seed, GENERATOR_ID] + ([stream] if stream else []))
    hours = np.sort(rng.choice(365 * 24, size=min(rows, 365 * 24), replace=False))  # distinct hours
    rows = len(hours)
    day, hr = hours // 24 + 1, hours % 24
    month = np.minimum((day - 1) // 31, 11)
    season = (month // 3 + 1 - (month == 11) * 3).clip(1, 4)  # Dec joins winter (1)
    weekday = (day + 5) % 7  # 2011-01-01 was a Saturday (6)
    holiday = (rng.random(rows) < 0.03).astype(int)
    workingday = ((weekday >= 1) & (weekday <= 5) & (holiday == 0)).astype(int)
    weather = rng.choice(4, rows, p=[0.65, 0.26, 0.085, 0.005])
    warmth = 0.5 - 0.3 * np.cos(2 * np.pi * (day - 15) / 365)
    temp = np.clip(warmth + rng.normal(0, 0.08, rows), 0.02, 0.96).round(2)
    atemp = np.clip(temp + rng.normal(0, 0.03, rows), 0, 1).round(4)
    hum = np.clip(0.6 + 0.1 * weather + rng.normal(0, 0.15, rows), 0, 1).round(2)
    windspeed = np.clip(rng.gamma(2.0, 0.09, rows), 0, 0.85).round(4)

    commute = np.exp(-((hr - 8) ** 2) / 2) + 1.2 * np.exp(-((hr - 17.5) ** 2) / 2.5)
    leisure = np.exp(-((hr - 14) ** 2) / 12)
    night = np.exp(-((hr - 3) ** 2) / 6)
    shape = np.where(workingday == 1, 0.25 + 2.2 * commute + 0.5 * leisure, 0.2 + 1.6 * leisure)
    shape = shape * (1 - 0.8 * night)
    mean = 140 * shape * (0.35 + 1.3 * temp) * np.array([1.0, 0.85, 0.45, 0.2])[weather] * (1.2 - 0.4 * hum)
    bikers = np.maximum(rng.poisson(mean), 1)
    casual = rng.binomial(bikers, np.where(workingday == 1, 0.12, 0.35))
    return pd.DataFrame(
        {
            "season": season,
            "mnth": np.array(MONTHS)[month],
            "day": day,
            "hr": hr,
            "holiday": holiday,
            "weekday": weekday,
            "workingday": workingday,
            "weathersit": np.array(WEATHER)[weather],
            "temp": temp,
            "atemp": atemp,
            "hum": hum,
            "windspeed": windspeed,
            "casual": casual,
            "registered": bikers - casual,
            "bikers": bikers,
        }
    )
