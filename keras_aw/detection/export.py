"""The detector export moved to `keras_aw.deploy`, the one implementation of `keras_aw.export`.

Kept so that ``keras_aw.detection.export.export_detector`` and its names keep
working: `export_detector` and `DetectorExport` are `keras_aw.deploy`'s,
`FORMATS` is `keras_aw.deploy.DETECTOR_FORMATS` and `OUTPUTS` is
`keras_aw.deploy.DETECTOR_OUTPUTS`.
"""

from keras_aw.deploy import DETECTOR_FORMATS as FORMATS
from keras_aw.deploy import DETECTOR_OUTPUTS as OUTPUTS
from keras_aw.deploy import DetectorExport, export_detector

__all__ = ["DetectorExport", "FORMATS", "OUTPUTS", "export_detector"]
