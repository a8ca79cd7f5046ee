"""Hardware-aware architecture search (``edgefmr search``).

* :mod:`~edgefmr.nas.search.space` - search spaces per family, attention variant per layer;
* :mod:`~edgefmr.nas.search.supernet` - one-shot weight-sharing supernets (slicing, sandwich sampling), cached;
* :mod:`~edgefmr.nas.search.proxies` - training-free proxies (synflow, jacob_cov, hidden covariance);
* :mod:`~edgefmr.nas.search.cost` - exact memory from the firmware planner on the lowered graph, latency from the
  board's calibration table, hard constraints;
* :mod:`~edgefmr.nas.search.driver` - the Optuna study (multi-objective, constraints), its trials and the export;
* :mod:`~edgefmr.nas.search.storage` - local or shared study storage, per-trial seeded samplers, dead-worker recovery;
* :mod:`~edgefmr.nas.search.pareto` - the Pareto front, the chosen model and its plot.

See docs/search.md.
"""
