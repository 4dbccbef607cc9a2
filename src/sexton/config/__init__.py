"""One validated config object, built once at start."""

from .errors import ConfigError, Problem
from .loader import Config, TaskSpec, load_config
from .models import TaskSettings

__all__ = ["Config", "ConfigError", "Problem", "TaskSettings", "TaskSpec", "load_config"]
