"""Pure Block Kit builders (slack_sdk.models): views and messages from domain values, nothing else."""
