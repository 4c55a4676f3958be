"""Architecture explorer: network design spaces, exact evaluation at speed, exact Pareto fronts.

``space("ghostnet")`` / ``space("resnet50")`` / ``load_space("my.toml")`` give a ``NetworkSpace``;
``evaluate`` / ``sample`` cost candidates as a gather + sum of per-block tables; ``front`` gives
the exact Pareto front of the whole space by dynamic programming over its stages;
``sample_to_parquet`` streams samples larger than memory chunk by chunk (locally or on Dask).
"""

from __future__ import annotations

from .blocks import BLOCKS, Choice
from .builtin import SPACES, ghostnet_space, resnet50_space, space
from .report import report_data
from .schema import load_space, space_from_dict
from .lut import LUT, load_lut, measure_lut
from .space import NetworkSpace, Stage
from .stream import evaluate_parquet, measure_lut_to_parquet, sample_chunks, sample_to_parquet

__all__ = ["BLOCKS", "Choice", "LUT", "NetworkSpace", "SPACES", "Stage", "evaluate_parquet", "ghostnet_space",
           "load_lut", "load_space", "measure_lut", "measure_lut_to_parquet", "report_data", "resnet50_space",
           "sample_chunks", "sample_to_parquet", "space", "space_from_dict"]
