"""The `inception-tf` command: turns flags into calls of the library."""

import argparse
import sys


def _costs(args):
    from inception_tf import costs

    if args.model == "slide11":
        lines = costs.ReductionExample().report()
    else:
        from inception_tf import report

        lines = report.model_cost_report(args.model, image_size=args.image_size)
    print("\n".join(lines))
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="inception-tf",
        description="The Inception module and GoogLeNet for Keras 3 / TensorFlow 2.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    costs = commands.add_parser(
        "costs", help="print parameter and multiply-add counts", description=(
            "Print parameter and multiply-add counts: slide 11's 1x1-reduction "
            "example, or a model layer by layer."
        )
    )
    costs.add_argument(
        "--model",
        default="slide11",
        choices=("slide11", "googlenet", "slidenet"),
        help="what to count (default: slide11, the 28x28x192 5x5 example)",
    )
    costs.add_argument(
        "--image-size", type=int, default=None,
        help="input height and width for --model googlenet (default: 224)",
    )
    costs.set_defaults(handler=_costs)
    return parser


def main(argv=None):
    """Runs the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"inception-tf {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
