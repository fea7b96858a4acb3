"""MLflow "models from code" entry point: MLflow stores this file with each model and runs
it at load time, so no pickled Python object is ever loaded from the registry."""

from mlflow.models import set_model

from leadscore.models.mlflow_model import LeadScoringPyfunc

set_model(LeadScoringPyfunc())
