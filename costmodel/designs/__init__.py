"""One module per design family; each design is one Spec subclass (spec + formulas + module)."""
