"""python -m proteus: the command-line tool (as the `proteus` script)."""
import sys

from proteus._cli import main

sys.exit(main())
