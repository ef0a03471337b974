"""The header that authenticates notify to an SMS or messaging provider.

A provider's credential (`SMS_WEBHOOK_AUTH`, or a file holding it: `SMS_WEBHOOK_AUTH_FILE`, a
mounted Kubernetes Secret) goes in a header of its own (`Authorization` unless
`SMS_WEBHOOK_AUTH_HEADER` names another), not in the URL: URLs end up in access logs, proxies
and exception messages; a header value is never logged by notify (it is not in any log call,
`SecretStr` hides it in the settings' repr, and httpx logs at WARNING only).
"""

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 field-name


@dataclass(frozen=True)
class ProviderAuth:
    header: str
    value: str = field(repr=False)

    def __post_init__(self) -> None:
        if not _TOKEN.match(self.header):
            raise ValueError(f"{self.header!r} is not a valid HTTP header name")
        # A line break would make httpx refuse every send (read as `http_unreachable`):
        # refused at start instead, where it names the setting.
        if not self.value or any(c in self.value for c in "\r\n\0"):
            raise ValueError(f"the {self.header} credential is empty or holds a line break")
