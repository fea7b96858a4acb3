"""Building, calibrating and thresholding the conversion model."""
