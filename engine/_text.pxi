# Text codecs and segmentation: filled in by the text-codec work.
