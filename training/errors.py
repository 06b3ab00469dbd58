"""Errors a user can act on. The message says what is wrong and, where it helps, what to do.

GanError
├── DatasetError    missing path, empty folder, unreadable file, wrong shape, too few samples
└── TrainingError   NaN losses, a model name already taken, a resume state that does not fit
    └── RecipeError a recipe field that cannot work with this data; names the field
"""


class GanError(Exception):
    """Base of every error this project reports to users instead of a traceback."""


class DatasetError(GanError):
    """The dataset cannot be used; raised before training starts where possible."""


class TrainingError(GanError):
    """Training cannot start or go on."""


class RecipeError(TrainingError):
    """A recipe field cannot work with the data (for example `conditional` on unlabelled data)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
