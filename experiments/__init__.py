"""MNIST experiments over `regularizers`: data, models, grids, runner, store, analysis, plots."""

import logging
import os

# TensorFlow's C++ start-up chatter (and a spurious MapDataset error line) would bury the
# per-run lines; set TF_CPP_MIN_LOG_LEVEL yourself to see it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Every run builds a new model, so tf.function retraces by design: not worth a warning.
logging.getLogger("tensorflow").setLevel(logging.ERROR)
