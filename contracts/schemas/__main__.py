"""``python -m contracts.schemas [--check | --release VERSION]``."""

from __future__ import annotations

import argparse
import sys

from contracts.schemas import PACKAGE_DIR, release, stale_files, write_schemas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.schemas", description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    group.add_argument("--release", metavar="VERSION", help="copy generated VERSION into contracts/released/")
    args = parser.parse_args(argv)

    def show(path: object) -> str:
        return str(path).removeprefix(str(PACKAGE_DIR.parent) + "/")

    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {show(path)}")
        return 1 if stale else 0
    if args.release:
        for path in release(args.release):
            print(f"released: {show(path)}")
        return 0
    for path in write_schemas():
        print(f"wrote: {show(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
