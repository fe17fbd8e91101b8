"""Read REDCap project exports into typed tidy tables.

>>> project = read_project(dictionary="dictionary.csv", records="data.csv")  # doctest: +SKIP
>>> project.table("demographics")  # doctest: +SKIP
"""

from mindtrial.interop.redcap.dictionary import DataDictionary, parse_choices, read_dictionary
from mindtrial.interop.redcap.project import RedcapProject, read_project
from mindtrial.interop.redcap.project_xml import read_project_xml
from mindtrial.interop.redcap.types import (
    Arm,
    Choice,
    Event,
    Field,
    Problem,
    ProjectMetadata,
    RedcapFormatError,
    RepeatSetting,
)
from mindtrial.interop.redcap.values import kind_of

__all__ = [
    "Arm",
    "Choice",
    "DataDictionary",
    "Event",
    "Field",
    "Problem",
    "ProjectMetadata",
    "RedcapFormatError",
    "RedcapProject",
    "RepeatSetting",
    "kind_of",
    "parse_choices",
    "read_dictionary",
    "read_project",
    "read_project_xml",
]
