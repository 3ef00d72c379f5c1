"""``python -m kinetic.accelerators --markdown``: print the generated accelerators page."""

from __future__ import annotations

import argparse
import sys

from kinetic.accelerators.markdown import render_markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kinetic.accelerators")
    parser.add_argument("--markdown", action="store_true",
                        help="print docs/accelerators.md, generated from the registry")
    args = parser.parse_args(argv)
    if not args.markdown:
        parser.print_help()
        return 2
    sys.stdout.write(render_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
