"""blindspot_gui: see, explain and reproduce the blind spots of neural networks (Szegedy et al., ICLR 2014)."""

__version__ = "0.1.0"
