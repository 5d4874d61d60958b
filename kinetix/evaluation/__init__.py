"""Metrics, registered in ``kinetix.registry.METRICS``."""

from kinetix.evaluation.acc_metric import (AccMetric, mean_average_precision, mean_class_accuracy,
                                           top_k_accuracy)
from kinetix.evaluation.confusion import confusion_matrix, most_confused

__all__ = ["AccMetric", "top_k_accuracy", "mean_class_accuracy", "mean_average_precision",
           "confusion_matrix", "most_confused"]
