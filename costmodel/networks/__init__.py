"""Whole networks built from cfg tables, conv swaps, and the published-numbers table.

``network(name, **kw)`` builds a ``Network`` (``.layers``, ``.costs()``, ``.module()``);
``swap(name, conv3x3=design, **design_kw)`` builds the same network with its 3x3 convs
replaced by another design; ``published_table()`` puts ours beside the papers' numbers.
"""

from __future__ import annotations

from .graph import Layer, Network, NetworkCosts
from .registry import NETWORKS, network, network_names
from .swaps import swap, swappable
from .published import published_table

__all__ = ["Layer", "Network", "NetworkCosts", "NETWORKS", "network", "network_names", "swap",
           "swappable", "published_table"]
