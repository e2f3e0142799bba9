"""smc-chatops: Slack-driven Alibaba Cloud SMC migrations."""
