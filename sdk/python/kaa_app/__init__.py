"""This application's endpoint SDK: its typed classes, its baked-in properties and a client
wired to them.

``Profile``, ``Configuration``, ``Notification`` and ``LogRecord`` are the generated classes of
the pinned schemas (see the modules of the same names); ``events`` holds the event classes;
``properties`` the SDK token, Bootstrap servers and default configuration.
"""

from kaa_sdk import BootstrapServer, KaaClient

from . import events, properties
from .configuration import Configuration
from .log import LogRecord
from .notification import Notification
from .profile import Profile

__all__ = [
    "BootstrapServer",
    "Configuration",
    "KaaClient",
    "LogRecord",
    "Notification",
    "Profile",
    "create_client",
    "events",
    "properties",
]


def create_client(state_dir="kaa-state", profile=None, transport="tcp", bootstrap_servers=None, **options):
    """A :class:`kaa_sdk.KaaClient` of this application: the baked-in SDK token, Bootstrap
    servers (unless ``bootstrap_servers`` is given), default configuration and default user
    verifier, callbacks that receive typed configurations, notifications and events.
    ``profile`` defaults to ``Profile()`` (the schema's defaults); ``options`` are
    :class:`kaa_sdk.KaaClient`'s keyword arguments (``on_configuration``,
    ``on_notification``, ``on_logs_delivered``, ``on_error``, ...)."""
    return KaaClient(
        properties.SDK_TOKEN,
        bootstrap_servers if bootstrap_servers is not None else properties.BOOTSTRAP_SERVERS,
        state_dir,
        profile if profile is not None else Profile(),
        transport=transport,
        configuration_type=Configuration,
        notification_type=Notification,
        event_classes={fqn: cls for fqn, (cls, _sent, _received) in events.EVENT_CLASSES.items()},
        default_configuration=properties.DEFAULT_CONFIGURATION,
        default_verifier_token=properties.DEFAULT_VERIFIER_TOKEN,
        **options,
    )
