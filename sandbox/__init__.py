"""The world the bot can be tried in: a cloud simulator and a Slack stand-in. Imports nothing from the bot."""
