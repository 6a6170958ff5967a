"""Detectors: one factory (``create_model``), native MesoNets and any timm backbone.

A new model goes here: a module with the network and an entry in the factory's registry.
"""

from dfrobust.models.factory import (
    PRETRAINED_TAGS,
    Detector,
    Normalize,
    TwoLogitAdapter,
    create_model,
    list_models,
    load_weights,
    pretrained_tag,
)

__all__ = [
    "PRETRAINED_TAGS",
    "Detector",
    "Normalize",
    "TwoLogitAdapter",
    "create_model",
    "list_models",
    "load_weights",
    "pretrained_tag",
]
