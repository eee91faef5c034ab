"""The detection model: dataset building, training, export and the shipped weights."""
