"""Training and testing. Importing it registers every data, model and metric type."""

import kinetix.data  # noqa: F401  (registers datasets, transforms, samplers)
import kinetix.evaluation  # noqa: F401  (registers metrics)
import kinetix.models  # noqa: F401  (registers models)
