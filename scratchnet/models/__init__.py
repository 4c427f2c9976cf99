"""AlexNet configurations and the model built from ScratchNet's layers."""

from .alexnet import AlexNet, alexnet, convert_state
from .config import CONFIGS, AlexNetConfig, make_config
from .summary import format_summary, summarize

__all__ = ["AlexNet", "alexnet", "convert_state", "AlexNetConfig", "CONFIGS", "make_config", "summarize", "format_summary"]
