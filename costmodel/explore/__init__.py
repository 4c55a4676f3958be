"""Design-space exploration: exact sweeps over grids or samples, Pareto fronts, stack totals.

One job per module:
  grid.py      lazy axes, index sampling, grid text (``parse_grid``), ``accepts_array``
  guard.py     the overflow guard: which rows int64 evaluates exactly
  evaluate.py  one chunk of rows: validity and reason as the constructor says, exact costs
  frame.py     chunks -> one typed DataFrame
  sweeps.py    ``sweep`` / ``iter_sweep`` / ``write_sweep``: memory limits, streaming to CSV/Parquet
  pareto.py    ``pareto_front`` / ``front_mask`` / ``staircase`` (the only Pareto implementation)
  stack.py     ``stack_costs``: exact totals over many specs (a network's layers)
"""

from .grid import accepts_array, parse_grid
from .pareto import front_mask, pareto_front
from .stack import stack_costs
from .sweeps import CHUNK, MAX_POINTS, MEMORY_BUDGET, check_writable, iter_sweep, sweep, write_sweep

__all__ = ["sweep", "iter_sweep", "write_sweep", "check_writable", "pareto_front", "front_mask", "stack_costs", "parse_grid",
           "accepts_array", "CHUNK", "MAX_POINTS", "MEMORY_BUDGET"]
