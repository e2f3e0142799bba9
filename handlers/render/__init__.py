"""Pure Block Kit builders (slack_sdk.models): views and messages from domain values, nothing else."""

# Renderer modules: importing them runs their @renders decorators.
from handlers.render import (  # noqa: F401
    approval,
    config,
    events,
    import_replies,
    import_summary,
    jobs,
    summary,
)
