"""A trial that takes a known time whatever the machine: sleep --seconds (plus --spread
times --x), then log.

The job of tests that need a trial to last at least a given time (tests/test_resilience.py's
kill -9 test draws its kill moments within that time) or to carry text of the user's
making (tests/test_markup.py). One run logs, to TensorBoard in --log-dir, `score` =
1 - (x - 0.3)^2 (under the tag --score-tag) and `cost` = x + y at step 1, after the sleep.
--label is any text, used for nothing but --fail-on (a run whose --label equals it writes
its label to stderr and exits 1) and --no-score-on (a run whose --label equals it logs
only `cost`, and exits 0). It writes its own start and end times (epoch seconds) to
times.json in --log-dir. It has a top-level `main(argv)`, so local jobs fork from
the warm-start server as the tutorial's do.

    python tests/scripts/steady_trial.py --log-dir /tmp/steady/0 --seconds 2 --x 0.5 --y 0.1
"""

import argparse
import json
import sys
import time

from torch.utils.tensorboard import SummaryWriter


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--seconds", type=float, required=True, help="how long the trial lasts")
    parser.add_argument("--spread", type=float, default=0.0,
                        help="and this many seconds times --x longer (trials of unequal length)")
    parser.add_argument("--x", type=float, required=True)
    parser.add_argument("--y", type=float, default=0.0)
    parser.add_argument("--score-tag", default="score")
    parser.add_argument("--label", default="")
    parser.add_argument("--fail-on", default=None)
    parser.add_argument("--no-score-on", default=None)
    args = parser.parse_args(argv)
    started = time.time()
    time.sleep(args.seconds + args.spread * args.x)
    if args.fail_on is not None and args.label == args.fail_on:
        sys.exit(f"cannot train with the label {args.label}")
    score, cost = 1 - (args.x - 0.3) ** 2, args.x + args.y
    with SummaryWriter(args.log_dir) as writer:
        if args.label != args.no_score_on:
            writer.add_scalar(args.score_tag, score, 1)
        writer.add_scalar("cost", cost, 1)
    print(f"score {score:.4f} cost {cost:.4f}")
    # the job's own clock: when it started and ended (tests/test_candidates.py)
    with open(f"{args.log_dir}/times.json", "w") as f:
        json.dump({"started": started, "ended": time.time()}, f)


if __name__ == "__main__":
    main(sys.argv[1:])
