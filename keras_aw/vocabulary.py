"""The package's vocabulary: constants every module reads from here.

(Minimal version on the tooling branch; the library branch defines the full
vocabulary: variants, attention kinds, CBAM forms, box formats, tolerances.)
"""

#: Detectors take images scaled by this factor (0-255 pixels -> [0, 1]).
DETECTOR_INPUT_SCALE = 1.0 / 255.0
