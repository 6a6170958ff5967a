"""dfrobust: adversarially robust deepfake detection on FaceForensics++."""

__version__ = "0.1.0"
