"""synthesize: write an embedded generated data set to ``data/synthetic/<name>.csv``.

A data set whose params set ``test_rows`` is written instead as a folder with its own test file,
``data/synthetic/<name>/train.csv`` (``rows`` rows) and ``test.csv`` (``test_rows`` rows, drawn from
an independent random stream of the same generator), like a real data set shipped already split.

The shipped tasks read these files by default, exactly as they read a user's CSV, so ``make repro``
runs offline and the readers, validation and encoders are the ones real data goes through. The rows
depend only on ``seed`` and ``synthetic.<name>`` in params.yaml.
"""

from __future__ import annotations

import argparse

from pipeline.core import paths
from pipeline.core.config import ConfigError, params
from pipeline.core.io import write_text


def main(argv: list[str]) -> int:
    from pipeline.generators import bikeshare, load_series, script, synthetic

    parser = argparse.ArgumentParser(
        prog="python -m pipeline synthesize", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("name", help="a data set under 'synthetic:' in params.yaml")
    args = parser.parse_args(argv)
    p = params()
    if args.name not in p.synthetic:
        raise ConfigError(
            f"unknown synthetic data set {args.name!r}: params.yaml defines {', '.join(p.synthetic)}"
        )
    spec = p.synthetic[args.name]
    generate = {
        "churn": synthetic.churn_frame,
        "reviews": synthetic.sentiment_frame,
        "topics": synthetic.topics_frame,
        "script": script.script_frame,
        "bikeshare": bikeshare.bikeshare_frame,
        "load": load_series.load_frame,
    }[spec.generator]
    frame = generate(spec.rows, p.seed)
    if spec.test_rows is None:
        out = paths.synthetic_data(args.name)
        write_text(out, frame.to_csv(index=False))
        print(f"synthesize {args.name}: {len(frame)} rows ({spec.generator}, seed {p.seed}) -> {out}")
        return 0
    test = generate(spec.test_rows, p.seed, stream=1)
    folder = paths.synthetic_split_dir(args.name)
    write_text(folder / "train.csv", frame.to_csv(index=False))
    write_text(folder / "test.csv", test.to_csv(index=False))
    print(
        f"synthesize {args.name}: {len(frame)} train and {len(test)} test rows "
        f"({spec.generator}, seed {p.seed}) -> {folder}/train.csv, test.csv"
    )
    return 0
