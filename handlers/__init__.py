"""The Slack edge: thin listeners that ack, call one service, render."""

from __future__ import annotations

from slack_bolt import App


def register(app: App) -> None:
    """Attach every listener of the Slack surface to `app`."""
    from handlers import (
        approval,
        audit,
        commands,
        config,
        home,
        import_actions,
        imports,
        jobs,
        listing,
        migrate,
        templates,
    )
    from handlers.commands import CommandHandler
    from handlers.ids import Subcommand

    routes: dict[Subcommand, CommandHandler] = {
        Subcommand.IMPORT: imports.open_import_modal,
        Subcommand.MIGRATE: migrate.open_migrate_modal,
        Subcommand.LIST: listing.handle_list,
        Subcommand.STATUS: listing.handle_status,
        Subcommand.TEMPLATE: templates.handle_template,
        Subcommand.APPROVALS: approval.handle_approvals,
        Subcommand.CONFIG: config.handle_config,
        Subcommand.AUDIT: audit.handle_audit,
    }
    # Bolt tries the listeners' matchers in this order until one matches, each try costing about as much
    # as a small listener (every id is exact, so the order changes nothing else): the requests that come
    # in bursts first, the wizard's submissions (validated before the ack), votes, then job buttons.
    commands.register(app, routes)
    migrate.register(app)
    approval.register(app)
    jobs.register(app)
    imports.register(app)
    import_actions.register(app)
    config.register(app)
    home.register(app)
