"""The verbs of `python -m lab`, one module per group: each adds its parsers and does its
work; lab.cli builds the parser from them and catches errors, once."""
