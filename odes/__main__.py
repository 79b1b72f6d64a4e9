import sys

from odes.command_line import run_main

from .cli import main

sys.exit(run_main("python -m odes", main, "nothing written"))
