"""One module per klingc command: HELP, add_arguments(parser), run(args) -> int."""
