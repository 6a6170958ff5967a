"""Detectors: one factory (``create_model``), native MesoNets and any timm backbone.

A new model goes here: a module with the network and an entry in the factory's registry.
"""

from dfrobust.models.factory import Detector, Normalize, TwoLogitAdapter, create_model, list_models, load_weights

__all__ = ["Detector", "Normalize", "TwoLogitAdapter", "create_model", "list_models", "load_weights"]
