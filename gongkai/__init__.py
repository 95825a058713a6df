"""gongkai composition root: settings, the command line and ``serve``."""

__version__ = "0.1.0"
