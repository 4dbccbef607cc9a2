"""`python -m sexton` is the `sexton` command."""

from sexton.cli import main

main()
