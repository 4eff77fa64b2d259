"""python -m proteus_py.generator (see train.py)."""
import sys

from .train import main

sys.exit(main())
