"""Benchmarks of inception_tf's GoogLeNet: `python benchmarks/run_benchmarks.py [--repeats N ...]`.

See benchmarks/harness.py for what is measured. Install the `bench` extra first
for the PyTorch rows: pip install -e ".[bench]". The report states the CPU it ran on.
"""

import argparse
import importlib.util
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value

    return parse


def build_parser():
    parser = argparse.ArgumentParser(
        prog="run_benchmarks.py", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Time our GoogLeNet beside plain Keras and PyTorch; write a Markdown report.",
    )
    parser.add_argument("--output", default="benchmark-report.md",
                        help="the Markdown report to write (benchmarks/RESULTS.md gathers one section per CPU kind)")
    parser.add_argument("--image-size", type=_positive(int), default=224)
    parser.add_argument("--threads", type=_positive(int), default=None, help="default: all cores")
    parser.add_argument("--repeats", type=_positive(int), default=9,
                        help="timed repeats per candidate (the median of fewer than 5 is noisy)")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--float32-only", action="store_true", help="leave the bfloat16 rows out")
    parser.add_argument("--budget-seconds", type=_positive(float), default=120,
                        help="time per candidate beyond which it gets fewer samples (at least one)")
    parser.add_argument("--allocator", choices=("auto", "system", "tcmalloc", "jemalloc"), default="auto",
                        help="malloc for the whole run, preloaded (auto: tcmalloc if installed, else the system's)")
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    preload = harness.allocator_library(args.allocator)
    if preload and preload not in os.environ.get("LD_PRELOAD", ""):
        # An allocator is chosen at process start: run again with it preloaded.
        print(f"running the benchmark under {preload} (--allocator {args.allocator})", flush=True)
        environment = dict(os.environ, LD_PRELOAD=":".join(filter(None, [preload, os.environ.get("LD_PRELOAD")])))
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *argv], environment)
    from inception_tf import runtime

    runtime.configure()
    use_torch = importlib.util.find_spec("torch") is not None and not args.no_torch
    if not use_torch and not args.no_torch:
        print("PyTorch is not installed (pip install 'inception_tf[bench]'): timing without it.", file=sys.stderr)
    precisions = ("float32",) if args.float32_only else ("float32", "mixed_bfloat16")
    harness.run(output=args.output, image_size=args.image_size, threads=args.threads, repeats=args.repeats,
                torch=use_torch, precisions=precisions, budget_seconds=args.budget_seconds,
                log=lambda line: print(line, flush=True))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
