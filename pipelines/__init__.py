"""Jobs (generate, train, score) and the command line that wires them."""
