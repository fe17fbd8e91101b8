"""The study dataset: the one tidy folder format that the web app exports, REDCap data is
converted into, the simulator writes and the analysis reads (see ``docs/study-dataset.md``).
"""

from mindtrial.dataset.io import (
    build_dataset,
    build_dataset_from_frames,
    read_dataset,
    validate_dataset,
    write_dataset,
)
from mindtrial.dataset.schema import (
    CSV_FILES,
    STAGES,
    TOX_RESULTS,
    Column,
    DatasetError,
    Problem,
    StudyDataset,
    StudyMeta,
)
from mindtrial.dataset.validate import check_answer, follow_up_week

__all__ = [
    "CSV_FILES",
    "STAGES",
    "TOX_RESULTS",
    "Column",
    "DatasetError",
    "Problem",
    "StudyDataset",
    "StudyMeta",
    "build_dataset",
    "build_dataset_from_frames",
    "check_answer",
    "follow_up_week",
    "read_dataset",
    "validate_dataset",
    "write_dataset",
]
