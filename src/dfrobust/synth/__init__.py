"""The embedded demo data set: synthetic faces in FF++'s folder layout, real and manipulated.

- :mod:`~dfrobust.synth.faces`: drawing a face, its identity and pose.
- :mod:`~dfrobust.synth.fakes`: the manipulation styles and the traces each leaves.
- :mod:`~dfrobust.synth.writer`: the videos, split files and ``synth.json`` on disk.
"""

from dfrobust.synth.writer import SynthOptions, SynthSummary, synthesize

__all__ = ["SynthOptions", "SynthSummary", "synthesize"]
