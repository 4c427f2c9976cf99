"""ScratchNet: AlexNet rebuilt from scratch in NumPy, to read and check every line."""

__version__ = "0.1.0"
