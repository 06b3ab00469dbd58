"""Errors a user can act on. The message says what is wrong and, where it helps, what to do.

GanError
├── DatasetError    missing path, empty folder, unreadable file, wrong shape, too few samples
└── TrainingError   NaN losses, a model name already taken, a resume state that does not fit
"""


class GanError(Exception):
    """Base of every error this project reports to users instead of a traceback."""


class DatasetError(GanError):
    """The dataset cannot be used; raised before training starts where possible."""


class TrainingError(GanError):
    """Training cannot start or go on."""
