"""The long-running stages of the compliance stream, one module each, started by
``compliance run <name>``."""
