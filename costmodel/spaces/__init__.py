"""Architecture explorer: network design spaces, exact evaluation at speed, exact Pareto fronts.

``space("ghostnet")`` / ``space("resnet50")`` / ``load_space("my.toml")`` give a ``NetworkSpace``;
``evaluate`` / ``sample`` cost candidates as a gather + sum of per-block tables; ``front`` gives
the exact Pareto front of the whole space by dynamic programming over its stages.
"""

from __future__ import annotations

from .blocks import BLOCKS, Choice
from .builtin import SPACES, ghostnet_space, resnet50_space, space
from .report import report_data
from .schema import load_space, space_from_dict
from .space import NetworkSpace, Stage

__all__ = ["BLOCKS", "Choice", "NetworkSpace", "SPACES", "Stage", "ghostnet_space", "load_space", "report_data", "resnet50_space", "space",
           "space_from_dict"]
