"""config.toml -> frozen dataclasses. Every error names the key and what was expected.

tables.py holds the dataclasses, values.py reads and checks single values, load.py reads the file.
"""

from .load import load_config
from .tables import (
    CONFIG_NAME,
    LAST_DAY,
    LOOPBACK_HOSTS,
    PERMALINK_FIELDS,
    SCHEDULES,
    SMTP_SECURITY,
    WEEKDAYS,
    BouncesConfig,
    Config,
    ContentConfig,
    DigestConfig,
    FeedsConfig,
    RunConfig,
    SiteConfig,
    SmtpConfig,
    StateConfig,
    TagsConfig,
    WebConfig,
    WebSubConfig,
)

__all__ = [
    "CONFIG_NAME",
    "LAST_DAY",
    "LOOPBACK_HOSTS",
    "PERMALINK_FIELDS",
    "SCHEDULES",
    "SMTP_SECURITY",
    "WEEKDAYS",
    "BouncesConfig",
    "Config",
    "ContentConfig",
    "DigestConfig",
    "FeedsConfig",
    "RunConfig",
    "SiteConfig",
    "SmtpConfig",
    "StateConfig",
    "TagsConfig",
    "WebConfig",
    "WebSubConfig",
    "load_config",
]
