"""The `proteus` console script: runs the packaged binary with its Python
half and this interpreter (see proteus._run)."""
import os
import sys

from proteus._run import ProteusError, binary, environment


def main():
    try:
        exe = binary()
    except ProteusError as e:
        print(str(e), file=sys.stderr)
        return 1
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(exe, [exe, *sys.argv[1:]], environment())


if __name__ == "__main__":
    sys.exit(main())
