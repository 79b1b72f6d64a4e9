import sys

from odes.cli import run_main

from .cli import main

sys.exit(run_main("python -m odes", main, "nothing written"))
