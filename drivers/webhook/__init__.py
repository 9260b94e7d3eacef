"""The `webhook` driver: mutations POSTed as JSON signed by the Standard Webhooks specification.

See `drivers.webhook.driver` for the message and the batch protocol, `drivers.webhook.signing`
for the signature, `drivers.webhook.config` for the configuration.
"""

from drivers.webhook.config import WebhookConfig
from drivers.webhook.driver import WebhookDriver

__all__ = ["WebhookConfig", "WebhookDriver"]
