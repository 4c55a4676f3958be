"""Latency: measured and predicted time of designs on this device.

One job per module, imports in one direction (each imports only those above it, and core/designs):

    measure    the timing harness (torch.utils.benchmark), Timing records, clocks
    memory     bytes read / written / weights and arithmetic intensity per op (traffic tables)
    features   op-row features: conv geometry in doublings, CPU kernel dispatch, curve keys, L2
    profile    typed records (Peaks, EfficiencyCurve, StreamCurve, Neighbours, Composition,
               Profile) with their JSON round trip and evaluation
    predict    roofline and refined predictions of an op row and of a design
    sampler    random valid configs (held-out and training) and training single-op geometries
    cases      the timed (module, inputs, op row) of one training item
    fit        least_squares / nnls fits of the curves and of the composition
    calibrate  micro-benchmarks, training sweeps, anchors: ``costmodel calibrate``
    evaluate   held-out accuracy (``latency_eval``) and the explained-gaps table

The command-line front end is ``costmodel.cli.latency``.
"""
