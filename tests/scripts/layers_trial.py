"""A trial of a variable-depth network, stood in for by arithmetic: it keeps the argv it
was given, sleeps --seconds, then logs made-up results of the layers it was asked for.

The job of tests/test_architecture_search.py: each trial's argv is written to argv.json
in --log-dir, so that a test can check that a trial got exactly its active parameters.
`accuracy` grows with depth and width, `params` is the weight count of an MLP of 784 inputs,
the --layers widths and 10 outputs.

    python tests/scripts/layers_trial.py --log-dir /tmp/layers/0 --layers 64 32 --lr 0.01
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--layers", type=int, nargs="+", required=True)
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--seconds", type=float, default=0.0)
    args = parser.parse_args(argv)
    Path(args.log_dir).mkdir(parents=True, exist_ok=True)
    (Path(args.log_dir) / "argv.json").write_text(json.dumps(argv))
    time.sleep(args.seconds)
    sizes = [784, *args.layers, 10]
    params = sum(a * b for a, b in zip(sizes, sizes[1:]))
    accuracy = 1 - 0.5 / (len(args.layers) + math.log(sum(args.layers))) - 0.01 * abs(math.log10(args.lr) + 2)
    with SummaryWriter(args.log_dir) as writer:
        writer.add_scalar("accuracy", accuracy, 1)
        writer.add_scalar("params", params, 1)
    print(f"accuracy {accuracy:.4f} params {params}")


if __name__ == "__main__":
    main()
