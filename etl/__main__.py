"""`python -m etl ...` is the same as `creditwh ...`."""

from etl.cli import main

main()
