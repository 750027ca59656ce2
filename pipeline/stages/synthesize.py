"""synthesize: write an embedded generated data set to ``data/synthetic/<name>.csv``.

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
    from pipeline.data import synthetic

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
    }[spec.generator]
    frame = generate(spec.rows, p.seed)
    out = paths.synthetic_data(args.name)
    write_text(out, frame.to_csv(index=False))
    print(f"synthesize {args.name}: {len(frame)} rows ({spec.generator}, seed {p.seed}) -> {out}")
    return 0
